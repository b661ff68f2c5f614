//! Splits a run's writes into `runs/log-batch` calls within MLflow's limits: at most 1,000
//! metrics, 100 params and 100 tags per call, 1,000 items in all.

use super::wire::{KeyValue, Metric};

const MAX_METRICS: usize = 1000;
const MAX_PARAMS: usize = 100;
const MAX_TAGS: usize = 100;
const MAX_TOTAL: usize = 1000;

#[derive(Debug, Default, PartialEq)]
pub struct Batch<'a> {
    pub metrics: &'a [Metric],
    pub params: &'a [KeyValue],
    pub tags: &'a [KeyValue],
}

/// As few batches as the limits allow. Params and tags go first, so the first call also
/// fills in everything the MLflow UI lists before the curves.
pub fn batches<'a>(
    metrics: &'a [Metric],
    params: &'a [KeyValue],
    tags: &'a [KeyValue],
) -> Vec<Batch<'a>> {
    let (mut m, mut p, mut t) = (metrics, params, tags);
    let mut out = Vec::new();
    while !(m.is_empty() && p.is_empty() && t.is_empty()) {
        let np = p.len().min(MAX_PARAMS);
        let nt = t.len().min(MAX_TAGS);
        let nm = m.len().min(MAX_METRICS).min(MAX_TOTAL - np - nt);
        out.push(Batch {
            metrics: &m[..nm],
            params: &p[..np],
            tags: &t[..nt],
        });
        (m, p, t) = (&m[nm..], &p[np..], &t[nt..]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(n: usize) -> Vec<Metric> {
        (0..n)
            .map(|i| Metric {
                key: "k".into(),
                value: i as f64,
                timestamp: 0,
                step: i as i64,
            })
            .collect()
    }

    fn kvs(n: usize) -> Vec<KeyValue> {
        (0..n)
            .map(|i| KeyValue::new(format!("k{i}"), "v"))
            .collect()
    }

    #[test]
    fn a_typical_run_is_one_call() {
        let (m, p, t) = (metrics(69), kvs(11), kvs(8));
        let b = batches(&m, &p, &t);
        assert_eq!(b.len(), 1);
        assert_eq!((b[0].metrics.len(), b[0].params.len()), (69, 11));
    }

    #[test]
    fn limits_hold_and_every_item_is_sent_once_in_order() {
        let (m, p, t) = (metrics(2500), kvs(250), kvs(120));
        let b = batches(&m, &p, &t);
        for x in &b {
            assert!(x.metrics.len() <= MAX_METRICS && x.params.len() <= MAX_PARAMS);
            assert!(x.tags.len() <= MAX_TAGS);
            assert!(x.metrics.len() + x.params.len() + x.tags.len() <= MAX_TOTAL);
        }
        let sent: Vec<f64> = b
            .iter()
            .flat_map(|x| x.metrics.iter().map(|m| m.value))
            .collect();
        assert_eq!(sent, (0..2500).map(|i| i as f64).collect::<Vec<_>>());
        assert_eq!(b.iter().map(|x| x.params.len()).sum::<usize>(), 250);
        assert_eq!(b.iter().map(|x| x.tags.len()).sum::<usize>(), 120);
        // 800 metrics fit beside the first 100 params and 100 tags, then 880, then 820.
        let sizes: Vec<usize> = b.iter().map(|x| x.metrics.len()).collect();
        assert_eq!(sizes, vec![800, 880, 820]);
    }

    #[test]
    fn nothing_to_send_is_no_call() {
        assert!(batches(&[], &[], &[]).is_empty());
    }
}
