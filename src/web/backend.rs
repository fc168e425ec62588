//! Choosing where the science runs: WebGPU through burn's wgpu backend when the browser has an
//! adapter, burn's Flex CPU backend otherwise. `?backend=cpu` or `?backend=webgpu` forces one.
//!
//! The page comes in two builds of the same code: with WebGPU (feature `webgpu`) and without
//! it, a fraction of the download (BENCHMARKS.md). `static/start.js` asks the browser for an adapter before it
//! loads either, and loads the build with WebGPU only where this module would use it: a
//! hardware adapter, or `?backend=webgpu`. The build without it still describes the adapter,
//! so the label says the same in both.
//!
//! The decision is taken from the result of initialising wgpu, not from `navigator.gpu`
//! (which exists even where no adapter does), and the label says truthfully what runs.
//!
//! A WebGPU device can be lost at any time (a driver reset, the browser reclaiming the GPU, a
//! test calling `destroy()`); its tensors go with it. While the page runs on WebGPU it keeps
//! a host copy of the lab's models ([`keep_on_loss`]), refreshed whenever they change, and when
//! the browser reports the loss it moves the lab to the CPU: the data are uploaded again and
//! the kept models rebuilt there, so the page stays usable with the last good models.

use super::browser::{self, get, sleep};
use super::lab::{Lab, LabStore, Notices, notify};
use crate::ml::checkpoint::ModelFile;
use crate::ml::read_f32;
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::{Device, Tensor};
use js_sys::{Function, Promise};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
#[cfg(feature = "webgpu")]
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

#[cfg(feature = "webgpu")]
#[wasm_bindgen(inline_js = r#"
export function watch_device_loss(onLost) {
  const Adapter = globalThis.GPUAdapter;
  if (!Adapter || Adapter.prototype.__dimpleWatched) return;
  const requestDevice = Adapter.prototype.requestDevice;
  Adapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    device.lost.then((info) => onLost(info.message ? `${info.reason}: ${info.message}` : String(info.reason)));
    return device;
  };
  Adapter.prototype.__dimpleWatched = true;
}
"#)]
extern "C" {
    /// Makes every WebGPU device requested from now on call `on_lost` with the browser's
    /// reason when it is lost.
    fn watch_device_loss(on_lost: &Closure<dyn FnMut(String)>);
}

/// How often the host copies of the models are checked against the lab's, in milliseconds.
const KEEP_MS: i32 = 1000;

/// What the page does when the WebGPU device is lost, given the browser's reason.
type OnLost = Box<dyn Fn(String)>;

thread_local! {
    /// Why the WebGPU device was lost, once it was.
    static LOST: RefCell<Option<String>> = const { RefCell::new(None) };
    /// What to do when it is lost (set by [`keep_on_loss`]).
    static ON_LOST: RefCell<Option<OnLost>> = const { RefCell::new(None) };
}

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

/// Initialises the backend the request asks for, falling back to the CPU. Asked for nothing in
/// particular, a software (fallback) WebGPU adapter such as SwiftShader is passed over for the
/// CPU backend: training the reference MLP measured 424 examples/s on SwiftShader's WebGPU
/// (with the plain matmul kernel) against 21,471 on the CPU backend in the same browser
/// (BENCHMARKS.md).
pub async fn init(request: BackendRequest) -> Backend {
    if request == BackendRequest::Cpu {
        return cpu("CPU (chosen by ?backend=cpu)".into(), None);
    }
    let unavailable = |reason: String| {
        let notice = (request == BackendRequest::WebGpu).then(|| {
            format!("WebGPU was asked for with ?backend=webgpu but is unavailable here ({reason}); training runs on the CPU instead.")
        });
        cpu(format!("CPU (WebGPU unavailable: {reason})"), notice)
    };
    let adapter = match adapter_description().await {
        Ok(adapter) => adapter,
        Err(reason) => return unavailable(reason),
    };
    if adapter.fallback && request == BackendRequest::Auto {
        return cpu(
            format!(
                "CPU (WebGPU has only a software adapter here, {}, slower than the CPU; ?backend=webgpu uses it)",
                adapter.name
            ),
            None,
        );
    }
    #[cfg(feature = "webgpu")]
    let webgpu = init_webgpu().await;
    // static/start.js loads this build only where the one with WebGPU would not use it.
    #[cfg(not(feature = "webgpu"))]
    let webgpu: Result<Device, String> = Err(format!(
        "{} found, but this page was loaded without WebGPU",
        adapter.name
    ));
    match webgpu {
        Ok(device) => {
            // On a software adapter the dense layers' plain matmul kernel is about twice as
            // fast as burn's default (bench/README.md); a hardware adapter keeps burn's.
            crate::ml::dense::prefer_naive_matmul(adapter.fallback);
            Backend {
                device,
                kind: BackendKind::WebGpu,
                label: format!("WebGPU ({})", adapter.name),
                notice: None,
            }
        }
        Err(reason) => unavailable(reason),
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

#[cfg(feature = "webgpu")]
async fn init_webgpu() -> Result<Device, String> {
    let on_lost = Closure::<dyn FnMut(String)>::new(|reason: String| {
        leptos::logging::warn!("the WebGPU device was lost: {reason}");
        LOST.with(|l| *l.borrow_mut() = Some(reason.clone()));
        ON_LOST.with(|f| {
            if let Some(f) = f.borrow().as_ref() {
                f(reason);
            }
        });
    });
    watch_device_loss(&on_lost);
    // Lives as long as the page: the browser may call it at any time.
    on_lost.forget();
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| format!("{e}"))
}

/// The browser's WebGPU adapter, as far as the page cares.
struct Adapter {
    /// "vendor architecture", or the adapter's description; "fallback adapter" added for a
    /// software one.
    name: String,
    /// A software (fallback) adapter, such as SwiftShader.
    fallback: bool,
}

/// Asks the browser for a WebGPU adapter and describes it. Errors say why there is none.
async fn adapter_description() -> Result<Adapter, String> {
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
    let fallback = get(&adapter, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true)
        || get(&info, "isFallbackAdapter").and_then(|v| v.as_bool()) == Some(true);
    if fallback {
        words.push("fallback adapter".into());
    }
    let name = if words.is_empty() {
        "unnamed adapter".into()
    } else {
        words.join(" ")
    };
    Ok(Adapter { name, fallback })
}

/// The host copy of one of the lab's models, with the fingerprint it was taken at.
struct Kept {
    dataset: String,
    fingerprint: Vec<f32>,
    file: ModelFile,
}

impl Kept {
    /// Whether `kept` is a copy of the model of `dataset` with this fingerprint.
    fn holds(kept: &Option<Kept>, dataset: &str, fingerprint: &[f32]) -> bool {
        kept.as_ref()
            .is_some_and(|k| k.dataset == dataset && k.fingerprint == fingerprint)
    }

    /// The kept model file, if it belongs to `dataset`.
    fn file_for<'a>(kept: &'a Option<Kept>, dataset: &str) -> Option<&'a ModelFile> {
        kept.as_ref()
            .filter(|k| k.dataset == dataset)
            .map(|k| &k.file)
    }
}

/// The note in the host copies' model files.
const NOTE: &str = "kept in case the GPU is lost";

/// Host copies of the lab's classifier and autoencoder.
#[derive(Default)]
struct KeptModels {
    classifier: Option<Kept>,
    autoencoder: Option<Kept>,
}

/// On WebGPU: keeps host copies of the lab's models, and when the device is lost moves the lab
/// to the CPU with them, tells the visitor, and relabels the backend. Does nothing on the CPU.
pub fn keep_on_loss(
    backend: &Backend,
    lab: LabStore,
    notices: Notices,
    label: RwSignal<String>,
    kind: RwSignal<Option<BackendKind>>,
) {
    if backend.kind != BackendKind::WebGpu {
        return;
    }
    let kept = StoredValue::new_local(KeptModels::default());
    let fall_back = move |reason: String| {
        if kind.get_untracked() != Some(BackendKind::WebGpu) {
            return;
        }
        kind.set(Some(BackendKind::Cpu));
        label.set(format!("CPU (the WebGPU device was lost: {reason})"));
        let moved = move_to_cpu(lab, kept);
        notify(
            notices,
            true,
            format!(
                "The GPU stopped working ({reason}). The page runs on the CPU now: {moved}. \
                 Whatever was running on the GPU stopped; start it again."
            ),
        );
        // The work that was running fails with the device, each with a long error from
        // wgpu; the notice above says it all. Those failures arrive just before and just after
        // the loss is reported.
        drop_device_failures(notices);
        spawn_local(async move {
            sleep(FAILURES_MS).await;
            drop_device_failures(notices);
        });
    };
    match LOST.with(|l| l.borrow().clone()) {
        Some(reason) => fall_back(reason),
        None => {
            ON_LOST.with(|f| *f.borrow_mut() = Some(Box::new(fall_back)));
            spawn_local(keep_copies(lab, kept));
        }
    }
}

/// How long after a device loss the failures of the work in flight are still tidied away.
const FAILURES_MS: i32 = 2000;

/// Removes the notices of work that failed because the device went away.
fn drop_device_failures(notices: Notices) {
    notices.update(|n| {
        n.retain(|n| {
            !(n.text.contains("reading a result from the device failed")
                || n.text.contains("the GPU device was lost"))
        })
    });
}

/// Refreshes the host copies whenever the lab's models change, until the device is lost.
async fn keep_copies(lab: LabStore, kept: StoredValue<KeptModels, LocalStorage>) {
    while LOST.with(|l| l.borrow().is_none()) {
        let models = lab.with_value(|l| {
            l.as_ref().map(|l| {
                (
                    l.dataset.name.clone(),
                    l.shape,
                    l.classifier.clone(),
                    l.autoencoder.clone(),
                )
            })
        });
        if let Some((dataset, shape, classifier, autoencoder)) = models {
            let copied = async {
                if let Some(model) = classifier {
                    let fingerprint = fingerprint(&model).await?;
                    if !kept.with_value(|k| Kept::holds(&k.classifier, &dataset, &fingerprint)) {
                        let file = ModelFile::of_classifier(&model, shape, &dataset, NOTE).await?;
                        leptos::logging::log!("kept a host copy of the classifier ({dataset})");
                        kept.update_value(|k| {
                            k.classifier = Some(Kept {
                                dataset: dataset.clone(),
                                fingerprint,
                                file,
                            })
                        });
                    }
                }
                if let Some(model) = autoencoder {
                    let fingerprint = fingerprint(&model).await?;
                    if !kept.with_value(|k| Kept::holds(&k.autoencoder, &dataset, &fingerprint)) {
                        let file = ModelFile::of_autoencoder(&model, shape, &dataset, NOTE).await?;
                        leptos::logging::log!("kept a host copy of the autoencoder ({dataset})");
                        kept.update_value(|k| {
                            k.autoencoder = Some(Kept {
                                dataset: dataset.clone(),
                                fingerprint,
                                file,
                            })
                        });
                    }
                }
                Ok::<_, String>(())
            };
            if let Err(e) = copied.await {
                leptos::logging::warn!("keeping a copy of the models: {e}");
            }
        }
        sleep(KEEP_MS).await;
    }
}

/// The sum of each of `model`'s parameter tensors: a handful of numbers that change whenever
/// the weights do.
async fn fingerprint<M: Module>(model: &M) -> Result<Vec<f32>, String> {
    struct Sums(Vec<Tensor<1>>);
    impl ModuleVisitor for Sums {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.val().sum());
        }
    }
    let mut sums = Sums(Vec::new());
    model.visit(&mut sums);
    if sums.0.is_empty() {
        return Ok(Vec::new());
    }
    read_f32(Tensor::cat(sums.0, 0)).await
}

/// Replaces the lab by one on the CPU with the same dataset and the kept models that belong to
/// it; says what came back.
fn move_to_cpu(lab: LabStore, kept: StoredValue<KeptModels, LocalStorage>) -> String {
    let Some(old) = lab.try_update_value(Option::take).flatten() else {
        return "nothing was loaded yet".into();
    };
    let device = Device::flex();
    // The CPU backend multiplies with burn's own product.
    crate::ml::dense::prefer_naive_matmul(false);
    let name = old.dataset.name.clone();
    let mut fresh = Lab::new(device.clone(), old.dataset);
    let mut back = Vec::new();
    kept.with_value(|k| {
        if let Some(file) = Kept::file_for(&k.classifier, &name) {
            fresh.classifier = file.to_classifier(&device).ok();
        }
        if let Some(file) = Kept::file_for(&k.autoencoder, &name) {
            fresh.autoencoder = file.to_autoencoder(&device).ok();
        }
    });
    if fresh.classifier.is_some() {
        back.push("the classifier");
    }
    if fresh.autoencoder.is_some() {
        back.push("the autoencoder");
    }
    let lost = [
        (
            old.classifier.is_some() && fresh.classifier.is_none(),
            "classifier",
        ),
        (
            old.autoencoder.is_some() && fresh.autoencoder.is_none(),
            "autoencoder",
        ),
    ];
    lab.set_value(Some(fresh));
    let mut said = format!(
        "the data are loaded again{}",
        match back.as_slice() {
            [] => String::new(),
            parts => format!(" and {} came back", parts.join(" and ")),
        }
    );
    for (gone, role) in lost {
        if gone {
            said.push_str(&format!(
                "; the {role} trained last could not be saved from the GPU, train it again"
            ));
        }
    }
    said
}
