//! Choosing where the science runs: WebGPU through burn's wgpu backend when the browser has an
//! adapter, burn's Flex CPU backend otherwise. `?backend=cpu` or `?backend=webgpu` forces one.
//!
//! The decision is taken from the result of initialising wgpu, not from `navigator.gpu`
//! (which exists even where no adapter does), and the label says truthfully what runs.

use super::browser::{self, get};
use burn::prelude::Device;
use js_sys::{Function, Promise};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What the visitor asked for with `?backend=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendRequest {
    Auto,
    Cpu,
    WebGpu,
}

impl BackendRequest {
    /// Parses the `backend` query value; an unknown value is reported and treated as `Auto`.
    pub fn from_query(value: Option<&str>) -> (Self, Option<String>) {
        match value {
            None | Some("") | Some("auto") => (Self::Auto, None),
            Some("cpu") => (Self::Cpu, None),
            Some("webgpu") => (Self::WebGpu, None),
            Some(other) => (
                Self::Auto,
                Some(format!(
                    "Unknown backend {other:?} in the link (use cpu or webgpu); choosing automatically."
                )),
            ),
        }
    }
}

/// Which kind of device runs the science.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Cpu,
    WebGpu,
}

/// The device in use and what to tell the visitor about it.
#[derive(Clone, Debug)]
pub struct Backend {
    pub device: Device,
    pub kind: BackendKind,
    /// "WebGPU (adapter)" or "CPU (reason)".
    pub label: String,
    /// Set when the visitor's request could not be honoured.
    pub notice: Option<String>,
}

/// Initialises the backend the request asks for, falling back to the CPU.
pub async fn init(request: BackendRequest) -> Backend {
    if request == BackendRequest::Cpu {
        return cpu("CPU (chosen by ?backend=cpu)".into(), None);
    }
    match init_webgpu().await {
        Ok((device, adapter)) => Backend {
            device,
            kind: BackendKind::WebGpu,
            label: format!("WebGPU ({adapter})"),
            notice: None,
        },
        Err(reason) => {
            let notice = (request == BackendRequest::WebGpu).then(|| {
                format!("WebGPU was asked for with ?backend=webgpu but is unavailable here ({reason}); training runs on the CPU instead.")
            });
            cpu(format!("CPU (WebGPU unavailable: {reason})"), notice)
        }
    }
}

fn cpu(label: String, notice: Option<String>) -> Backend {
    Backend {
        device: Device::flex(),
        kind: BackendKind::Cpu,
        label,
        notice,
    }
}

async fn init_webgpu() -> Result<(Device, String), String> {
    let adapter = adapter_description().await?;
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("{e}"))?;
    Ok((device, adapter))
}

/// Asks the browser for a WebGPU adapter and describes it ("vendor architecture", or the
/// adapter's description). Errors say why there is none.
async fn adapter_description() -> Result<String, String> {
    let gpu = get(&browser::navigator(), "gpu").ok_or("this browser has no WebGPU")?;
    let request: Function = get(&gpu, "requestAdapter")
        .and_then(|f| f.dyn_into().ok())
        .ok_or("this browser has no WebGPU")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| browser::describe(&e))?
        .dyn_into()
        .map_err(|_| "requestAdapter did not return a promise".to_string())?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| browser::describe(&e))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("no WebGPU adapter".into());
    }
    let info = get(&adapter, "info").unwrap_or(JsValue::UNDEFINED);
    let field = |k: &str| {
        get(&info, k)
            .and_then(|v| v.as_string())
            .filter(|s| !s.is_empty())
    };
    let mut words: Vec<String> = ["vendor", "architecture"]
        .iter()
        .filter_map(|k| field(k))
        .collect();
    if words.is_empty() {
        words.extend(field("description"));
    }
    if get(&adapter, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true)
        || get(&info, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true)
    {
        words.push("fallback adapter".into());
    }
    Ok(if words.is_empty() {
        "unnamed adapter".into()
    } else {
        words.join(" ")
    })
}
