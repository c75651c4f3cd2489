//! Runs every case of the CESQL TCK in `tests/tck/` (see `tests/tck/README.md`).
//!
//! A case gives an expression, an input event (`event`, or any valid event, changed by
//! `eventOverrides`), and the expected `result` and `error` kind. The runner checks the
//! value whenever `result` is given, even when an error is expected, and checks that an
//! expected error is the only kind of error raised.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use herald_cesql::{EvaluationError, Expression, Value};
use serde::Deserialize;
use serde_norway::Value as Yaml;

/// The files copied from the CloudEvents repositories; the runner fails if one is missing.
const UPSTREAM_FILES: [&str; 14] = [
    "binary_comparison_operators.yaml",
    "binary_logical_operators.yaml",
    "binary_math_operators.yaml",
    "casting_functions.yaml",
    "context_attributes_access.yaml",
    "integer_builtin_functions.yaml",
    "like_expression.yaml",
    "literals.yaml",
    "negate_operator.yaml",
    "not_operator.yaml",
    "spec_examples.yaml",
    "string_builtin_functions.yaml",
    "sub_expression.yaml",
    "subscriptions_api_recreations.yaml",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TckFile {
    name: String,
    tests: Vec<TckCase>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct TckCase {
    name: String,
    expression: String,
    #[serde(default)]
    result: Option<Yaml>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    event: Option<BTreeMap<String, Yaml>>,
    #[serde(default)]
    event_overrides: Option<BTreeMap<String, Yaml>>,
}

fn tck_directory() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("tck")
}

fn load_files() -> Vec<(String, TckFile)> {
    let mut paths: Vec<PathBuf> = fs::read_dir(tck_directory())
        .expect("tests/tck is part of the crate")
        .map(|entry| entry.expect("tests/tck is readable").path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "yaml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = fs::read_to_string(&path).expect("TCK files are readable UTF-8");
            let file: TckFile = serde_norway::from_str(&text)
                .unwrap_or_else(|error| panic!("{} is not a TCK file: {error}", path.display()));
            let name = path.file_name().expect("a file has a name").to_string_lossy().into_owned();
            (name, file)
        })
        .collect()
}

fn to_value(yaml: &Yaml) -> Result<Value, String> {
    match yaml {
        Yaml::Bool(flag) => Ok(Value::Boolean(*flag)),
        Yaml::String(text) => Ok(Value::String(text.clone())),
        Yaml::Number(number) => number
            .as_i64()
            .and_then(|number| i32::try_from(number).ok())
            .map(Value::Integer)
            .ok_or_else(|| format!("{number} is not a 32-bit integer")),
        other => Err(format!("{other:?} is not a CESQL value")),
    }
}

/// Builds the input event: `event`, or a minimal valid event, then `eventOverrides`.
fn input_event(case: &TckCase) -> Result<BTreeMap<String, Value>, String> {
    let mut event = BTreeMap::new();
    match &case.event {
        Some(attributes) => {
            for (name, value) in attributes {
                event.insert(name.clone(), to_value(value)?);
            }
        }
        None => {
            event.insert("specversion".to_owned(), Value::from("1.0"));
            event.insert("id".to_owned(), Value::from("tck-event"));
            event.insert("source".to_owned(), Value::from("/herald/cesql/tck"));
            event.insert("type".to_owned(), Value::from("dev.herald.cesql.tck"));
        }
    }
    for (name, value) in case.event_overrides.iter().flatten() {
        event.insert(name.clone(), to_value(value)?);
    }
    Ok(event)
}

fn error_kind(error: &EvaluationError) -> &'static str {
    match error {
        EvaluationError::Math { .. } => "math",
        EvaluationError::Cast { .. } => "cast",
        EvaluationError::MissingAttribute { .. } => "missingAttribute",
        EvaluationError::MissingFunction { .. } => "missingFunction",
        EvaluationError::FunctionEvaluation { .. } => "functionEvaluation",
        _ => "unknown",
    }
}

/// Runs one case and says what went wrong, if anything.
fn run(case: &TckCase) -> Result<(), String> {
    let parsed = Expression::parse(&case.expression);
    if case.error.as_deref() == Some("parse") {
        return match parsed {
            Err(_) => Ok(()),
            Ok(expression) => Err(format!("expected a parse error, parsed as {expression}")),
        };
    }
    let expression = parsed.map_err(|error| format!("unexpected parse error: {error}"))?;
    let evaluation = expression.evaluate(&input_event(case)?);
    if let Some(expected) = &case.result {
        let expected = to_value(expected)?;
        if evaluation.value != expected {
            return Err(format!("expected {expected:?}, got {:?}", evaluation.value));
        }
    }
    let kinds: Vec<&str> = evaluation.errors.iter().map(error_kind).collect();
    match case.error.as_deref() {
        None if kinds.is_empty() => Ok(()),
        Some(expected) if !kinds.is_empty() && kinds.iter().all(|kind| *kind == expected) => Ok(()),
        expected => Err(format!("expected error {expected:?}, got {:?}", evaluation.errors)),
    }
}

#[test]
fn every_tck_case_passes() {
    let files = load_files();
    for upstream in UPSTREAM_FILES {
        assert!(files.iter().any(|(name, _)| name == upstream), "tests/tck/{upstream} is missing");
    }
    let mut failures = Vec::new();
    let mut passed = 0;
    for (file_name, file) in &files {
        for case in &file.tests {
            match run(case) {
                Ok(()) => passed += 1,
                Err(why) => failures.push(format!(
                    "{file_name} ({}) / {}: `{}`: {why}",
                    file.name, case.name, case.expression
                )),
            }
        }
    }
    let total = passed + failures.len();
    assert!(
        failures.is_empty(),
        "{} of {total} TCK cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    println!("{passed} of {total} TCK cases passed, in {} files", files.len());
}
