//! `aerocast model …`: the registry's commands, their flags and handlers.

use super::{EXIT_OK, StoreAt};
use crate::forecast;
use crate::predict::{self, Source};
use crate::store::{ModelRef, ModelVersion};
use anyhow::Result;
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ModelCommand {
    /// Register a run as the next version of NAME.
    Register(RegisterArgs),
    /// Point ALIAS of NAME at VERSION (moving it if it is set).
    Alias(AliasArgs),
    /// List registered models and their versions.
    List(ListArgs),
    /// Show one version: NAME (latest), NAME@ALIAS or NAME/VERSION.
    Show(ShowArgs),
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "register_which")]
pub struct RegisterWhich {
    /// A run id (or a unique prefix of one).
    #[arg(long)]
    pub run: Option<String>,
    /// The best finished run of the experiment (lowest val_rmse, or cv_val_rmse when it
    /// cross-validates), as `report --best` picks it.
    #[arg(long)]
    pub best: bool,
}

#[derive(Args)]
pub struct RegisterArgs {
    pub name: String,
    #[command(flatten)]
    pub which: RegisterWhich,
    /// With --best: the experiment [default: the one swept most recently]
    #[arg(long, requires = "best")]
    pub experiment: Option<String>,
    /// Point this alias at the new version (repeatable).
    #[arg(long)]
    pub alias: Vec<String>,
    /// Print the new version as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreAt,
}

#[derive(Args)]
pub struct AliasArgs {
    pub name: String,
    pub alias: String,
    pub version: i64,
    #[command(flatten)]
    pub store: StoreAt,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only this model.
    pub name: Option<String>,
    /// Print a JSON array of versions.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreAt,
}

#[derive(Args)]
pub struct ShowArgs {
    /// NAME, NAME@ALIAS or NAME/VERSION.
    pub reference: String,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub store: StoreAt,
}

pub fn run(cmd: ModelCommand) -> Result<ExitCode> {
    match cmd {
        ModelCommand::Register(a) => register(a),
        ModelCommand::Alias(a) => alias(a),
        ModelCommand::List(a) => list(a),
        ModelCommand::Show(a) => show(a),
    }
}

fn register(a: RegisterArgs) -> Result<ExitCode> {
    let store = a.store.open_to_write()?;
    let source = match &a.which.run {
        Some(r) => Source::Run(r.clone()),
        None => Source::Best(a.experiment.clone()),
    };
    let chosen = predict::choose(&store, &source)?;
    let v = store.register_version(&a.name, &chosen.run.run_id, &a.alias)?;
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        crate::outln!(
            "registered {} version {} → run {} (experiment {:?}, sweep {}){}",
            v.name,
            v.version,
            v.run_id,
            v.experiment,
            &v.sweep_id[..8],
            aliases_text(&v)
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn alias(a: AliasArgs) -> Result<ExitCode> {
    let store = a.store.open_to_write()?;
    let before = store
        .resolve_model(&ModelRef::Alias(a.name.clone(), a.alias.clone()))
        .ok();
    store.set_alias(&a.name, &a.alias, a.version)?;
    let was = before.map_or(String::new(), |b| format!(" (was version {})", b.version));
    crate::outln!("{}@{} → version {}{was}", a.name, a.alias, a.version);
    Ok(ExitCode::from(EXIT_OK))
}

fn list(a: ListArgs) -> Result<ExitCode> {
    let store = a.store.open()?;
    let versions = store.versions(a.name.as_deref())?;
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&versions)?);
        return Ok(ExitCode::from(EXIT_OK));
    }
    if versions.is_empty() {
        crate::outln!("no registered models (aerocast model register NAME --run ID)");
    }
    crate::outln!(
        "{:<20} {:>7}  {:<36}  {:<20}  aliases",
        "name",
        "version",
        "run",
        "registered"
    );
    for v in &versions {
        crate::outln!(
            "{:<20} {:>7}  {:<36}  {:<20}  {}",
            v.name,
            v.version,
            v.run_id,
            when(v.created_at),
            v.aliases.join(", ")
        );
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn show(a: ShowArgs) -> Result<ExitCode> {
    let store = a.store.open()?;
    let v = store.resolve_model(&ModelRef::parse(&a.reference)?)?;
    let run = store.run(&v.run_id)?;
    let card = forecast::load_model(&store, &v.run_id).ok().map(|m| m.card);
    let mut out = serde_json::to_value(&v)?;
    if let Some(c) = &card {
        out["target"] = json!(c.target);
        out["features"] = json!(c.features);
        out["window"] = json!(c.window);
        out["horizon"] = json!(c.horizon);
        out["params"] = json!(c.params);
    }
    if let Some(r) = &run {
        out["metrics"] = json!(r.metrics);
    }
    if a.json {
        crate::outln!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_show(&v, &out);
    }
    Ok(ExitCode::from(EXIT_OK))
}

fn print_show(v: &ModelVersion, out: &Value) {
    crate::outln!("{} version {}{}", v.name, v.version, aliases_text(v));
    crate::outln!("  run        {}", v.run_id);
    crate::outln!("  experiment {}", v.experiment);
    crate::outln!("  sweep      {}", v.sweep_id);
    crate::outln!("  registered {}", when(v.created_at));
    for key in ["target", "features", "window", "horizon"] {
        if let Some(x) = out.get(key) {
            crate::outln!("  {key:<10} {x}");
        }
    }
    if let Some(Value::Object(m)) = out.get("metrics") {
        for key in [crate::metrics::VAL_RMSE, crate::metrics::NAIVE_VAL_RMSE] {
            if let Some(x) = m.get(key) {
                crate::outln!("  {key:<10} {x}");
            }
        }
    }
}

fn aliases_text(v: &ModelVersion) -> String {
    if v.aliases.is_empty() {
        String::new()
    } else {
        format!(" [{}]", v.aliases.join(", "))
    }
}

fn when(t: f64) -> String {
    let secs = std::time::UNIX_EPOCH + std::time::Duration::from_secs_f64(t.max(0.0));
    humantime::format_rfc3339_seconds(secs).to_string()
}
