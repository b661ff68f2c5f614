//! A predict request's body, checked field by field: every problem names where it is
//! (`instances[1].rows[3].wind`) and what was expected, and becomes a 4xx, never a panic.

use crate::artifacts::ModelCard;
use serde_json::{Map, Value};

/// One set of rows to forecast from.
#[derive(Debug)]
pub struct Instance {
    /// Raw values, row-major `[rows, features]` in the model's feature order.
    pub inputs: Vec<f32>,
    /// Every row's `"time"`, when the rows carry one.
    pub times: Option<Vec<String>>,
    pub steps: usize,
}

/// The body: `{"rows": […]}` (one instance) or `{"instances": [{"rows": […]}, …]}`.
#[derive(Debug)]
pub struct Body {
    pub batch: bool,
    pub instances: Vec<Instance>,
}

/// Instances one batch request may hold (the body limit bounds the rows anyway).
pub const MAX_INSTANCES: usize = 1024;

pub fn parse(bytes: &[u8], card: &ModelCard) -> Result<Body, String> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(top) = value else {
        return Err("the body must be a JSON object with \"rows\" or \"instances\"".into());
    };
    match (top.get("rows"), top.get("instances")) {
        (Some(_), Some(_)) => Err("give \"rows\" or \"instances\", not both".into()),
        (Some(_), None) => Ok(Body {
            batch: false,
            instances: vec![instance(&top, "", card)?],
        }),
        (None, Some(Value::Array(list))) => {
            if list.is_empty() || list.len() > MAX_INSTANCES {
                return Err(format!(
                    "\"instances\" must hold 1 to {MAX_INSTANCES} objects, not {}",
                    list.len()
                ));
            }
            let instances = list
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let at = format!("instances[{i}].");
                    match v {
                        Value::Object(o) => instance(o, &at, card),
                        _ => Err(format!("instances[{i}] must be an object with \"rows\"")),
                    }
                })
                .collect::<Result<_, _>>()?;
            Ok(Body {
                batch: true,
                instances,
            })
        }
        (None, Some(_)) => Err("\"instances\" must be an array".into()),
        (None, None) => Err("the body needs \"rows\" (or \"instances\")".into()),
    }
}

fn instance(obj: &Map<String, Value>, at: &str, card: &ModelCard) -> Result<Instance, String> {
    let Some(Value::Array(rows)) = obj.get("rows") else {
        return Err(format!("{at}rows must be an array of row objects"));
    };
    if rows.len() < card.window {
        return Err(format!(
            "{at}rows has {} rows, but the model reads a window of {} rows (oldest first)",
            rows.len(),
            card.window
        ));
    }
    let steps = match obj.get("steps") {
        None => card.horizon,
        Some(v) => v
            .as_u64()
            .filter(|&s| (1..=10_000).contains(&s))
            .ok_or_else(|| format!("{at}steps must be a whole number from 1 to 10000"))?
            as usize,
    };
    let f = card.features.len();
    let mut inputs = Vec::with_capacity(rows.len() * f);
    let mut times = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let Value::Object(row) = row else {
            return Err(format!(
                "{at}rows[{r}] must be an object mapping each feature to a number"
            ));
        };
        for name in &card.features {
            inputs.push(number(
                row.get(name),
                &format!("{at}rows[{r}].{name}"),
                card,
            )?);
        }
        match row.get("time") {
            Some(Value::String(t)) => times.push(t.clone()),
            Some(Value::Number(n)) => times.push(n.to_string()),
            Some(_) => return Err(format!("{at}rows[{r}].time must be a string or a number")),
            None => {}
        }
    }
    let times = match times.len() {
        0 => None,
        n if n == rows.len() => Some(times),
        _ => return Err(format!("{at}rows: give \"time\" on every row or on none")),
    };
    Ok(Instance {
        inputs,
        times,
        steps,
    })
}

fn number(v: Option<&Value>, at: &str, card: &ModelCard) -> Result<f32, String> {
    match v {
        None => Err(format!(
            "{at} is missing (the model reads {})",
            card.features.join(", ")
        )),
        Some(Value::Number(n)) => match n.as_f64() {
            Some(x) if x.is_finite() && x.abs() <= f32::MAX as f64 => Ok(x as f32),
            _ => Err(format!(
                "{at} is not a finite number within the 32-bit float range"
            )),
        },
        Some(other) => Err(format!("{at} must be a number, not {}", kind(other))),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
