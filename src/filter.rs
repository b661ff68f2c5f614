//! Run filters in the subset of MLflow's `search_runs` syntax people already type:
//! `params.lr < 0.01 and metrics.val_rmse < 3 and status = 'finished'`. Fields are
//! `params.X`, `metrics.X`, `tags.X`, `status`, `experiment` and `sweep`; operators
//! `= != < <= > >=`; values numbers or quoted strings; conditions joined by `and`. Numbers
//! compare as numbers (a param holding a number compares numerically too); a run without the
//! field never matches.

use crate::store::RunRecord;
use std::cmp::Ordering;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq)]
struct Condition {
    field: Field,
    op: Op,
    value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Param(String),
    Metric(String),
    Tag(String),
    Status,
    Experiment,
    Sweep,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Num(f64),
    Text(String),
}

/// A syntax error: what is wrong and the character offset it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct FilterError {
    pub message: String,
    pub at: usize,
}

impl FilterError {
    /// The message, the expression, and a caret under the offending token.
    pub fn render(&self, expr: &str) -> String {
        let col = expr[..self.at.min(expr.len())].chars().count();
        format!("{}\n  {expr}\n  {}^", self.message, " ".repeat(col))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Num(f64),
    Text(String),
    Op(Op),
}

const FIELDS_HINT: &str = "params.<name>, metrics.<name>, tags.<name>, status, experiment or sweep";

impl Filter {
    pub fn parse(expr: &str) -> Result<Filter, FilterError> {
        let tokens = tokenize(expr)?;
        let mut conditions = Vec::new();
        let mut i = 0;
        loop {
            let field = expect_field(&tokens, i, expr.len())?;
            let op = expect_op(&tokens, i + 1, expr.len())?;
            let value = expect_value(&tokens, i + 2, expr.len())?;
            conditions.push(Condition { field, op, value });
            i += 3;
            match tokens.get(i) {
                None => break,
                Some((Token::Word(w), _)) if w.eq_ignore_ascii_case("and") => {
                    i += 1;
                    if i >= tokens.len() {
                        return Err(FilterError {
                            message: "a condition must follow `and`".into(),
                            at: expr.len(),
                        });
                    }
                }
                Some((t, at)) => {
                    return Err(FilterError {
                        message: format!("expected `and` between conditions, found {}", show(t)),
                        at: *at,
                    });
                }
            }
        }
        Ok(Filter { conditions })
    }

    pub fn matches(&self, run: &RunRecord, tags: &BTreeMap<String, String>) -> bool {
        self.conditions.iter().all(|c| c.matches(run, tags))
    }

    /// Whether any condition reads tags (they are fetched only then).
    pub fn reads_tags(&self) -> bool {
        self.conditions
            .iter()
            .any(|c| matches!(c.field, Field::Tag(_)))
    }
}

impl Condition {
    fn matches(&self, run: &RunRecord, tags: &BTreeMap<String, String>) -> bool {
        let actual = match &self.field {
            Field::Param(k) => run.params.get(k).map(|v| match v.as_f64() {
                Some(n) => Value::Num(n),
                None => Value::Text(v.to_string()),
            }),
            Field::Metric(k) => run.metric(k).map(Value::Num),
            Field::Tag(k) => tags.get(k).map(|t| Value::Text(t.clone())),
            Field::Status => Some(Value::Text(run.status.to_string())),
            Field::Experiment => Some(Value::Text(run.experiment.clone())),
            Field::Sweep => Some(Value::Text(run.sweep_id.clone())),
        };
        let Some(ordering) = actual.and_then(|a| compare(&a, &self.value)) else {
            return false;
        };
        match self.op {
            Op::Eq => ordering == Ordering::Equal,
            Op::Ne => ordering != Ordering::Equal,
            Op::Lt => ordering == Ordering::Less,
            Op::Le => ordering != Ordering::Greater,
            Op::Gt => ordering == Ordering::Greater,
            Op::Ge => ordering != Ordering::Less,
        }
    }
}

/// Numbers as numbers; text against a number compares the number's text only for `=`/`!=`
/// purposes when the text itself is a number (tags are text: `tags.fold = 3` works).
fn compare(actual: &Value, wanted: &Value) -> Option<Ordering> {
    match (actual, wanted) {
        (Value::Num(a), Value::Num(b)) => a.partial_cmp(b),
        (Value::Text(a), Value::Text(b)) => Some(a.as_str().cmp(b)),
        (Value::Text(a), Value::Num(b)) => a.parse::<f64>().ok()?.partial_cmp(b),
        (Value::Num(a), Value::Text(b)) => a.partial_cmp(&b.parse::<f64>().ok()?),
    }
}

fn tokenize(expr: &str) -> Result<Vec<(Token, usize)>, FilterError> {
    let mut tokens = Vec::new();
    let chars: Vec<(usize, char)> = expr.char_indices().collect();
    let mut i = 0;
    while i < chars.len() {
        let (at, c) = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let end = chars[i + 1..]
                .iter()
                .position(|&(_, d)| d == c)
                .ok_or(FilterError {
                    message: "this quote is never closed".into(),
                    at,
                })?;
            let text: String = chars[i + 1..i + 1 + end].iter().map(|&(_, d)| d).collect();
            tokens.push((Token::Text(text), at));
            i += end + 2;
        } else if "=!<>".contains(c) {
            let next = chars.get(i + 1).map(|&(_, d)| d);
            let (op, len) = match (c, next) {
                ('=', Some('=')) => (Op::Eq, 2),
                ('=', _) => (Op::Eq, 1),
                ('!', Some('=')) => (Op::Ne, 2),
                ('<', Some('=')) => (Op::Le, 2),
                ('<', _) => (Op::Lt, 1),
                ('>', Some('=')) => (Op::Ge, 2),
                ('>', _) => (Op::Gt, 1),
                _ => {
                    return Err(FilterError {
                        message: "`!` must be followed by `=`".into(),
                        at,
                    });
                }
            };
            tokens.push((Token::Op(op), at));
            i += len;
        } else {
            let len = chars[i..]
                .iter()
                .take_while(|&&(_, d)| !d.is_whitespace() && !"=!<>'\"".contains(d))
                .count();
            let word: String = chars[i..i + len].iter().map(|&(_, d)| d).collect();
            let token = match word.parse::<f64>() {
                Ok(n) if word.starts_with(|d: char| d.is_ascii_digit() || "-+.".contains(d)) => {
                    Token::Num(n)
                }
                _ => Token::Word(word),
            };
            tokens.push((token, at));
            i += len;
        }
    }
    if tokens.is_empty() {
        return Err(FilterError {
            message: format!(
                "the filter is empty; expected a condition such as `metrics.val_rmse < 3` ({FIELDS_HINT})"
            ),
            at: 0,
        });
    }
    Ok(tokens)
}

fn show(t: &Token) -> String {
    match t {
        Token::Word(w) => format!("`{w}`"),
        Token::Num(n) => format!("`{n}`"),
        Token::Text(s) => format!("'{s}'"),
        Token::Op(_) => "an operator".into(),
    }
}

fn expect_field(tokens: &[(Token, usize)], i: usize, end: usize) -> Result<Field, FilterError> {
    let Some((token, at)) = tokens.get(i) else {
        return Err(FilterError {
            message: format!("expected a field ({FIELDS_HINT})"),
            at: end,
        });
    };
    let unknown = |what: String| FilterError {
        message: format!("{what}; fields are {FIELDS_HINT}"),
        at: *at,
    };
    let Token::Word(w) = token else {
        return Err(unknown(format!("expected a field, found {}", show(token))));
    };
    let field = match w.split_once('.') {
        Some(("params", k)) if !k.is_empty() => Field::Param(k.into()),
        Some(("metrics", k)) if !k.is_empty() => Field::Metric(k.into()),
        Some(("tags", k)) if !k.is_empty() => Field::Tag(k.into()),
        None if w == "status" => Field::Status,
        None if w == "experiment" => Field::Experiment,
        None if w == "sweep" => Field::Sweep,
        _ => return Err(unknown(format!("unknown field `{w}`"))),
    };
    Ok(field)
}

fn expect_op(tokens: &[(Token, usize)], i: usize, end: usize) -> Result<Op, FilterError> {
    match tokens.get(i) {
        Some((Token::Op(op), _)) => Ok(*op),
        Some((t, at)) => Err(FilterError {
            message: format!("expected an operator (= != < <= > >=), found {}", show(t)),
            at: *at,
        }),
        None => Err(FilterError {
            message: "expected an operator (= != < <= > >=)".into(),
            at: end,
        }),
    }
}

fn expect_value(tokens: &[(Token, usize)], i: usize, end: usize) -> Result<Value, FilterError> {
    match tokens.get(i) {
        Some((Token::Num(n), _)) => Ok(Value::Num(*n)),
        Some((Token::Text(s), _)) => Ok(Value::Text(s.clone())),
        Some((t, at)) => Err(FilterError {
            message: format!(
                "expected a number or a quoted string, found {} (quote text: 'finished')",
                show(t)
            ),
            at: *at,
        }),
        None => Err(FilterError {
            message: "expected a number or a quoted string".into(),
            at: end,
        }),
    }
}

/// A sort order for listings: `metrics.val_rmse`, `params.lr desc`, `start_time`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    field: Option<Field>,
    descending: bool,
}

impl SortKey {
    pub fn parse(text: &str) -> Result<SortKey, FilterError> {
        let mut words = text.split_whitespace();
        let name = words.next().unwrap_or("");
        let descending = match words.next().map(|w| w.to_ascii_lowercase()) {
            None => false,
            Some(w) if w == "desc" => true,
            Some(w) if w == "asc" => false,
            Some(w) => {
                return Err(FilterError {
                    message: format!("expected `asc` or `desc` after the field, found `{w}`"),
                    at: text.find(&w).unwrap_or(0),
                });
            }
        };
        let field = match name {
            "start_time" => None,
            _ => match expect_field(&[(Token::Word(name.into()), 0)], 0, 0)? {
                Field::Tag(_) => {
                    return Err(FilterError {
                        message: "runs sort by params, metrics, status, experiment, sweep or start_time, not by tags".into(),
                        at: 0,
                    });
                }
                field => Some(field),
            },
        };
        Ok(SortKey { field, descending })
    }

    /// Sorts runs by the key; runs without the field go last, ties keep their order.
    pub fn sort(&self, runs: &mut [RunRecord]) {
        let key = |r: &RunRecord| -> Option<Value> {
            match &self.field {
                None => Some(Value::Num(r.start_time)),
                Some(Field::Param(k)) => r.params.get(k).map(|v| match v.as_f64() {
                    Some(n) => Value::Num(n),
                    None => Value::Text(v.to_string()),
                }),
                Some(Field::Metric(k)) => r.metric(k).map(Value::Num),
                Some(Field::Status) => Some(Value::Text(r.status.to_string())),
                Some(Field::Experiment) => Some(Value::Text(r.experiment.clone())),
                Some(Field::Sweep) => Some(Value::Text(r.sweep_id.clone())),
                Some(Field::Tag(_)) => None, // refused by `parse`
            }
        };
        runs.sort_by(|a, b| match (key(a), key(b)) {
            (Some(x), Some(y)) => {
                let o = compare(&x, &y).unwrap_or(Ordering::Equal);
                if self.descending { o.reverse() } else { o }
            }
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::knobs::ParamValue;
    use crate::store::RunStatus;

    fn run() -> RunRecord {
        RunRecord {
            run_id: "r1".into(),
            experiment: "exp".into(),
            sweep_id: "s1".into(),
            job_key: "k".into(),
            status: RunStatus::Finished,
            start_time: 0.0,
            end_time: None,
            failure_reason: None,
            data_hash: "h".into(),
            aerocast_version: "0".into(),
            params: [
                ("lr".to_string(), ParamValue::Float(0.003)),
                ("hidden_dim".to_string(), ParamValue::Int(32)),
                ("optimizer".to_string(), ParamValue::Str("adam".into())),
            ]
            .into_iter()
            .collect(),
            metrics: [("val_rmse".to_string(), Some(2.7))].into_iter().collect(),
            artifacts: Vec::new(),
        }
    }

    fn check(expr: &str) -> bool {
        let tags = [("team".to_string(), "ops".to_string())]
            .into_iter()
            .collect();
        Filter::parse(expr).unwrap().matches(&run(), &tags)
    }

    #[test]
    fn conditions_compare_numbers_as_numbers() {
        assert!(check(
            "params.lr < 0.01 and metrics.val_rmse < 3 and status = 'finished'"
        ));
        assert!(check("params.hidden_dim >= 32 AND params.hidden_dim <= 32"));
        assert!(
            check("params.hidden_dim > 4"),
            "32 > 4 numerically, not as text"
        );
        assert!(!check("metrics.val_rmse > 3"));
        assert!(check("params.optimizer = \"adam\" and tags.team != 'dev'"));
        assert!(check("experiment = 'exp' and sweep = 's1'"));
        assert!(check("metrics.val_rmse == 2.7"));
        assert!(
            !check("metrics.nope < 100"),
            "a run without the metric never matches"
        );
        assert!(!check("tags.missing = 'x'"));
        assert!(check("params.lr < 1e-2"));
    }

    #[test]
    fn sort_keys_order_numbers_and_put_missing_last() {
        let mut a = run();
        a.run_id = "a".into();
        a.metrics.insert("val_rmse".into(), Some(3.0));
        let mut b = run();
        b.run_id = "b".into();
        b.metrics.clear();
        let mut c = run();
        c.run_id = "c".into();
        let mut runs = vec![a, b, c];
        SortKey::parse("metrics.val_rmse").unwrap().sort(&mut runs);
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "b"]);
        SortKey::parse("metrics.val_rmse desc")
            .unwrap()
            .sort(&mut runs);
        let ids: Vec<&str> = runs.iter().map(|r| r.run_id.as_str()).collect();
        assert_eq!(ids, ["a", "c", "b"]);
    }

    #[test]
    fn quoted_strings_keep_spaces_and_operators() {
        let f = Filter::parse("tags.note = 'a < b and c'").unwrap();
        assert_eq!(f.conditions.len(), 1);
        assert_eq!(f.conditions[0].value, Value::Text("a < b and c".into()));
    }

    #[test]
    fn errors_point_at_the_offending_token() {
        let cases = [
            ("params.lr < < 3", 12, "expected a number"),
            ("foo.bar = 1", 0, "unknown field `foo.bar`"),
            ("params.lr 0.01", 10, "expected an operator"),
            ("status = finished", 9, "quote text"),
            ("status = 'finished", 9, "never closed"),
            ("metrics.val_rmse < 3 or status = 'x'", 21, "expected `and`"),
            ("metrics.val_rmse < 3 and", 24, "must follow `and`"),
            ("", 0, "empty"),
            ("status ! 'x'", 7, "`!` must be followed"),
        ];
        for (expr, at, needle) in cases {
            let e = Filter::parse(expr).unwrap_err();
            assert_eq!(e.at, at, "{expr}: {e:?}");
            assert!(e.message.contains(needle), "{expr}: {}", e.message);
        }
        assert!(SortKey::parse("metrics.val_rmse desc").is_ok());
        assert!(SortKey::parse("tags.x").is_err());
        assert!(SortKey::parse("metrics.val_rmse sideways").is_err());
        let shown = Filter::parse("params.lr < < 3")
            .unwrap_err()
            .render("params.lr < < 3");
        assert_eq!(
            shown.lines().collect::<Vec<_>>()[1..],
            ["  params.lr < < 3", "              ^"]
        );
    }
}
