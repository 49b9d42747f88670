//! Current usage from the metrics.k8s.io API.

use super::summary::{parse_cpu, parse_memory};

use super::Collector;

impl Collector {
    /// Usage per container (name, CPU millicores, memory bytes), when the cluster serves
    /// metrics.k8s.io.
    pub(super) async fn pod_usage(&self, ns: &str, pod: &str) -> Option<Vec<(String, u64, u64)>> {
        let url = format!("/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/{pod}");
        let req = http::Request::get(url).body(Vec::new()).ok()?;
        let v: serde_json::Value = self.client.request(req).await.ok()?;
        let out = v
            .get("containers")?
            .as_array()?
            .iter()
            .filter_map(|c| {
                let name = c.get("name")?.as_str()?.to_string();
                let cpu = parse_cpu(c.pointer("/usage/cpu")?.as_str()?)? as u64;
                let mem = parse_memory(c.pointer("/usage/memory")?.as_str()?)? as u64;
                Some((name, cpu, mem))
            })
            .collect();
        Some(out)
    }
}
