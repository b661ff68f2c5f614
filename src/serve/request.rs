//! A predict request's body, checked field by field: every problem names where it is
//! (`instances[1].rows[3].wind`) and what was expected, and becomes a 4xx, never a panic.

use crate::artifacts::ModelCard;
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_json::error::Category;
use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

/// One set of rows to forecast from.
#[derive(Debug)]
pub struct Instance {
    /// Raw values, row-major `[rows, features]` in the model's feature order.
    pub inputs: Vec<f32>,
    /// Every row's `"time"`, when the rows carry one.
    pub times: Option<Vec<String>>,
    pub steps: usize,
    /// The series the rows belong to, for a model of several series ("" otherwise).
    pub series: String,
}

/// The body: `{"rows": […]}` (one instance) or `{"instances": [{"rows": […]}, …]}`, and
/// `"level": [80, 95]` for intervals beside every forecast.
#[derive(Debug)]
pub struct Body {
    pub batch: bool,
    pub instances: Vec<Instance>,
    /// Interval levels in percent, ascending; empty for none.
    pub levels: Vec<u32>,
}

/// Instances one batch request may hold (the body limit bounds the rows anyway).
pub const MAX_INSTANCES: usize = 1024;

pub fn parse(bytes: &[u8], card: &ModelCard) -> Result<Body, String> {
    // serde would read a top-level array as a struct's fields in order; say what is wanted.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err("the body must be a JSON object with \"rows\" or \"instances\"".into());
    }
    let top: Top = serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            format!("the body is not valid JSON: {e}")
        }
        Category::Data => format!("the body is not a predict request: {e}"),
    })?;
    let levels = levels(top.level.as_ref())?;
    match (top.rows, top.instances) {
        (Some(_), Some(_)) => Err("give \"rows\" or \"instances\", not both".into()),
        (Some(rows), None) => Ok(Body {
            batch: false,
            instances: vec![instance(&rows, top.steps.as_ref(), top.series, "", card)?],
            levels,
        }),
        (None, Some(list)) => {
            if list.is_empty() || list.len() > MAX_INSTANCES {
                return Err(format!(
                    "\"instances\" must hold 1 to {MAX_INSTANCES} objects, not {}",
                    list.len()
                ));
            }
            let instances = list
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let at = format!("instances[{i}].");
                    let Some(rows) = &item.rows else {
                        return Err(format!("{at}rows is missing"));
                    };
                    instance(rows, item.steps.as_ref(), item.series.clone(), &at, card)
                })
                .collect::<Result<_, _>>()?;
            Ok(Body {
                batch: true,
                instances,
                levels,
            })
        }
        (None, None) => Err("the body needs \"rows\" (or \"instances\")".into()),
    }
}

/// The body as sent: one instance's fields, or a list of instances. Rows keep their keys
/// as written (borrowed from the body when they need no unescaping); cells are read
/// lazily-typed, so every check below can say what it found.
#[derive(Deserialize)]
struct Top<'a> {
    #[serde(borrow)]
    rows: Option<Vec<Row<'a>>>,
    steps: Option<Value>,
    series: Option<String>,
    #[serde(borrow)]
    instances: Option<Vec<Item<'a>>>,
    level: Option<Value>,
}

/// `"level"`: a list of whole percents (which ones a model calibrates is checked against
/// its card later).
fn levels(level: Option<&Value>) -> Result<Vec<u32>, String> {
    let Some(level) = level else {
        return Ok(Vec::new());
    };
    let wrong = || "level must be a list of whole percents, like [80, 95]".to_string();
    let mut out = level
        .as_array()
        .ok_or_else(wrong)?
        .iter()
        .map(|v| {
            v.as_u64()
                .and_then(|l| u32::try_from(l).ok())
                .ok_or_else(wrong)
        })
        .collect::<Result<Vec<u32>, String>>()?;
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[derive(Deserialize)]
struct Item<'a> {
    #[serde(borrow)]
    rows: Option<Vec<Row<'a>>>,
    steps: Option<Value>,
    series: Option<String>,
}

/// One row object: `(key, cell)` pairs in order; rows have a handful of keys, so a linear
/// search beats hashing.
struct Row<'a>(Vec<(Cow<'a, str>, Cell<'a>)>);

enum Cell<'a> {
    Number(f64),
    Text(Cow<'a, str>),
    Other(&'static str),
}

impl<'a> Row<'a> {
    fn get(&self, key: &str) -> Option<&Cell<'a>> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

fn instance(
    rows: &[Row],
    steps: Option<&Value>,
    series: Option<String>,
    at: &str,
    card: &ModelCard,
) -> Result<Instance, String> {
    if rows.len() < card.window {
        return Err(format!(
            "{at}rows has {} rows, but the model reads a window of {} rows (oldest first)",
            rows.len(),
            card.window
        ));
    }
    let steps = match steps {
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
    // Series indicators are not measurements: they come from the request's "series".
    let measured = f - card.indicator_columns;
    let series = series.unwrap_or_default();
    for (r, row) in rows.iter().enumerate() {
        for name in &card.features[..measured] {
            let value = number(row.get(name), card)
                .map_err(|problem| format!("{at}rows[{r}].{name} {problem}"))?;
            inputs.push(value);
        }
        if card.indicator_columns > 0 {
            inputs.extend(
                card.series
                    .iter()
                    .map(|s| f32::from(u8::from(s.name == series))),
            );
        }
        match row.get("time") {
            Some(Cell::Text(t)) => times.push(t.to_string()),
            Some(Cell::Number(n)) => times.push(Value::from(*n).to_string()),
            Some(Cell::Other(_)) => {
                return Err(format!("{at}rows[{r}].time must be a string or a number"));
            }
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
        series,
    })
}

/// The cell as a model input, or what is wrong with it (the caller adds where).
fn number(cell: Option<&Cell>, card: &ModelCard) -> Result<f32, String> {
    match cell {
        None => Err(format!(
            "is missing (the model reads {})",
            card.features.join(", ")
        )),
        Some(Cell::Number(x)) if x.is_finite() && x.abs() <= f32::MAX as f64 => Ok(*x as f32),
        Some(Cell::Number(_)) => {
            Err("is not a finite number within the 32-bit float range".to_string())
        }
        Some(Cell::Text(_)) => Err("must be a number, not a string".to_string()),
        Some(Cell::Other(kind)) => Err(format!("must be a number, not {kind}")),
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Row<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Row<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping each feature to a number")
            }
            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Row<'a>, M::Error> {
                let mut cells = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some(key) = map.next_key::<Key<'a>>()? {
                    cells.push((key.0, map.next_value::<Cell<'a>>()?));
                }
                Ok(Row(cells))
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// A key, borrowed from the body unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Key<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(TextVisitor(PhantomData)).map(Key)
    }
}

struct TextVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
    type Value = Cow<'a, str>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Cell<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Cell<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cell<'a>, E> {
                Ok(Cell::Number(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cell<'a>, E> {
                Ok(Cell::Number(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cell<'a>, E> {
                Ok(Cell::Number(v as f64))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cell<'a>, E> {
                Ok(Cell::Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Cell<'a>, E> {
                Ok(Cell::Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Cell<'a>, E> {
                Ok(Cell::Other("a boolean"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Cell<'a>, E> {
                Ok(Cell::Other("null"))
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut s: S) -> Result<Cell<'a>, S::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Cell::Other("an array"))
            }
            fn visit_map<M: MapAccess<'de>>(self, mut m: M) -> Result<Cell<'a>, M::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Cell::Other("an object"))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}
