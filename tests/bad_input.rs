//! Invalid input: a clear message naming the place, exit status 2, and the store untouched.

mod common;

use common::{Sandbox, snapshot, spec_text};

fn rejected(sb: &Sandbox, needles: &[&str]) {
    let out = sb.cmd(&["sweep", "spec.toml", "--quiet"]).assert().code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for n in needles {
        assert!(stderr.contains(n), "expected {n:?} in: {stderr}");
    }
}

#[test]
fn bad_specs_exit_2_and_never_create_the_store() {
    let good = spec_text("[0.01]");
    let cases: Vec<(String, Vec<&str>)> = vec![
        (
            good.replace("hidden_dim = [4, 8]", "hiden_dim = [4, 8]"),
            vec!["spec.toml:17:", "did you mean `hidden_dim`"],
        ),
        (
            good.replace("lr = [0.01]", "lr = [0.0]"),
            vec!["spec.toml:18:", "greater than 0"],
        ),
        (
            good.replace("window = 7", "window = 5000"),
            vec!["spec.toml:9:", "no training windows"],
        ),
        (
            good.replace("\"wind\"]", "\"gust\"]"),
            vec!["spec.toml:7:", "column \"gust\" is not in"],
        ),
        (
            good.replace("path = \"weather.csv\"", "path = \"nope.csv\""),
            vec!["spec.toml:5:", "cannot read data file"],
        ),
        (good.replace("[train]", "[train\n"), vec!["spec.toml:11:"]),
        (
            good.replace("epochs = 2", "epochs = 2.5"),
            vec!["spec.toml:12:", "integer"],
        ),
    ];
    for (spec, needles) in cases {
        let sb = Sandbox::new(&spec);
        rejected(&sb, &needles);
        assert!(!sb.store().exists(), "store created for {needles:?}");
    }
}

#[test]
fn bad_data_exits_2_naming_the_csv_line() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let csv = std::fs::read_to_string(sb.path("weather.csv")).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    lines[41] = lines[41]
        .replacen(",", ",oops", 2)
        .replacen(",oops", ",", 1);
    std::fs::write(sb.path("weather.csv"), lines.join("\n")).unwrap();
    rejected(&sb, &["weather.csv:42:", "is not a number"]);
    assert!(!sb.store().exists());
}

#[test]
fn invalid_spec_leaves_an_existing_store_byte_for_byte_unchanged() {
    let sb = Sandbox::new(&spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0]"));
    sb.sweep().success();
    let before = snapshot(&sb.store());
    std::fs::write(sb.path("spec.toml"), spec_text("[-1.0]")).unwrap();
    rejected(&sb, &["spec.toml:18:"]);
    assert_eq!(before, snapshot(&sb.store()));
}

#[test]
fn store_path_that_is_a_file_is_an_input_error() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    std::fs::write(sb.store(), "not a folder").unwrap();
    rejected(&sb, &["is a file"]);
    assert_eq!(std::fs::read(sb.store()).unwrap(), b"not a folder");
}

#[test]
fn report_on_a_missing_store_is_an_input_error() {
    let sb = Sandbox::new(&spec_text("[0.01]"));
    let out = sb.cmd(&["report", "--best"]).assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("no aerocast store"));
    assert!(!sb.store().exists());
}

/// An experiment forecasts one target: a sweep of another target into it is refused before it
/// writes anything, so no report ever ranks or averages forecasts of different quantities.
#[test]
fn a_second_target_in_one_experiment_is_refused() {
    let first = spec_text("[0.01]").replace("seed = [0, 1]", "seed = [0]");
    let sb = Sandbox::new(&first);
    sb.cmd(&["sweep", "spec.toml", "--quiet"])
        .assert()
        .success();
    let before = snapshot(&sb.store());
    std::fs::write(
        sb.path("spec.toml"),
        first.replace("target = \"temp_max\"", "target = \"temp_min\""),
    )
    .unwrap();
    rejected(
        &sb,
        &[
            "spec.toml:6:",
            "already holds runs forecasting `temp_max`",
            "Name another experiment",
        ],
    );
    assert_eq!(snapshot(&sb.store()), before, "the store is untouched");
}
