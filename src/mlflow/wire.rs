//! The JSON shapes of MLflow's REST API (the `/api/2.0/mlflow/…` and `mlflow-artifacts`
//! endpoints) that the mirror reads and writes.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl KeyValue {
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// One metric point. MLflow keeps every point; its "latest" value of a key is the one with the
/// highest step, then the highest timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    pub key: String,
    #[serde(serialize_with = "write_double", deserialize_with = "read_double")]
    pub value: f64,
    /// Milliseconds since the Unix epoch.
    #[serde(deserialize_with = "read_i64")]
    pub timestamp: i64,
    #[serde(default, deserialize_with = "read_i64")]
    pub step: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub status: String,
    #[serde(default)]
    pub artifact_uri: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct RunData {
    /// The latest value of each key, not the histories.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub params: Vec<KeyValue>,
    #[serde(default)]
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Run {
    pub info: RunInfo,
    #[serde(default)]
    pub data: RunData,
}

impl Run {
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.data
            .tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }
}

#[derive(Debug, Deserialize)]
pub struct RunResponse {
    pub run: Run,
}

#[derive(Debug, Deserialize)]
pub struct SearchResponse {
    #[serde(default)]
    pub runs: Vec<Run>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct HistoryResponse {
    #[serde(default)]
    pub metrics: Vec<Metric>,
    #[serde(default)]
    pub next_page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct Experiment {
    pub experiment_id: String,
    #[serde(default)]
    pub lifecycle_stage: String,
}

#[derive(Debug, Deserialize)]
pub struct ExperimentResponse {
    pub experiment: Experiment,
}

#[derive(Debug, Deserialize)]
pub struct CreateExperimentResponse {
    pub experiment_id: String,
}

#[derive(Debug, Deserialize)]
pub struct FileInfo {
    pub path: String,
    #[serde(default)]
    pub is_dir: bool,
    #[serde(default, deserialize_with = "read_opt_i64")]
    pub file_size: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct ArtifactList {
    #[serde(default)]
    pub files: Vec<FileInfo>,
}

/// An MLflow error body: `{"error_code": "...", "message": "..."}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    #[serde(default)]
    pub error_code: String,
    #[serde(default)]
    pub message: String,
}

/// Doubles as protobuf's JSON mapping writes them: non-finite values are the strings
/// "NaN", "Infinity" and "-Infinity", which MLflow accepts and returns.
fn write_double<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_nan() {
        s.serialize_str("NaN")
    } else if v.is_infinite() {
        s.serialize_str(if *v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        s.serialize_f64(*v)
    }
}

fn read_double<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| serde::de::Error::custom("number out of range")),
        serde_json::Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            other => other.parse().map_err(serde::de::Error::custom),
        },
        other => Err(serde::de::Error::custom(format!(
            "expected a number, got {other}"
        ))),
    }
}

/// int64 fields may arrive as numbers or, per protobuf's JSON mapping, as strings.
fn read_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    read_opt_i64(d)?.ok_or_else(|| serde::de::Error::custom("expected an integer, got null"))
}

fn read_opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("expected an integer")),
        serde_json::Value::String(s) => s.parse().map(Some).map_err(serde::de::Error::custom),
        other => Err(serde::de::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_use_protobuf_strings_both_ways() {
        let m = |v: f64| Metric {
            key: "k".into(),
            value: v,
            timestamp: 5,
            step: 1,
        };
        let json = serde_json::to_string(&[m(1.5), m(f64::NAN), m(f64::NEG_INFINITY)]).unwrap();
        assert_eq!(
            json,
            r#"[{"key":"k","value":1.5,"timestamp":5,"step":1},{"key":"k","value":"NaN","timestamp":5,"step":1},{"key":"k","value":"-Infinity","timestamp":5,"step":1}]"#
        );
        let back: Vec<Metric> = serde_json::from_str(&json).unwrap();
        assert_eq!(back[0].value, 1.5);
        assert!(back[1].value.is_nan());
        assert_eq!(back[2].value, f64::NEG_INFINITY);
    }

    #[test]
    fn int64_fields_read_from_numbers_or_strings() {
        let m: Metric =
            serde_json::from_str(r#"{"key":"k","value":2,"timestamp":"17","step":"3"}"#).unwrap();
        assert_eq!((m.timestamp, m.step), (17, 3));
        let f: FileInfo = serde_json::from_str(r#"{"path":"a","file_size":"12"}"#).unwrap();
        assert_eq!(f.file_size, Some(12));
    }
}
