//! Small bindings to the browser: yielding to the event loop, timers, fetching files. The
//! only place besides `backend` and `url` (history, clipboard) that touches JavaScript directly.

use js_sys::{Promise, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

fn window() -> web_sys::Window {
    web_sys::window().expect("a browser window")
}

/// Milliseconds since the page started (high resolution).
pub fn now_ms() -> f64 {
    window().performance().map(|p| p.now()).unwrap_or(0.0)
}

/// The screen's device pixel ratio (2 on most HiDPI screens).
pub fn device_pixel_ratio() -> f64 {
    window().device_pixel_ratio().max(1.0)
}

/// Lets the browser handle input and paint, then resumes. A posted message is not throttled
/// like `setTimeout(0)` (which waits at least 4 ms once nested), so a training loop that
/// yields after every step loses almost no time.
pub async fn yield_now() {
    let promise = Promise::new(&mut |resolve, _reject| {
        let channel = web_sys::MessageChannel::new().expect("MessageChannel");
        let on_message = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
        channel
            .port1()
            .set_onmessage(Some(on_message.unchecked_ref()));
        let _ = channel.port2().post_message(&JsValue::NULL);
    });
    let _ = JsFuture::from(promise).await;
}

/// Waits `ms` milliseconds without blocking the page.
pub async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _reject| {
        let _ = window().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// Fetches `url` (same origin) and returns its bytes, or a message saying what went wrong.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let response = JsFuture::from(window().fetch_with_str(url))
        .await
        .map_err(|e| format!("could not fetch {url}: {}", describe(&e)))?;
    let response: web_sys::Response = response.unchecked_into();
    http_ok(url, &response)?;
    let buffer = response
        .array_buffer()
        .map_err(|e| format!("could not read {url}: {}", describe(&e)))?;
    let buffer = JsFuture::from(buffer)
        .await
        .map_err(|e| format!("could not read {url}: {}", describe(&e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// An HTTP error status as a message.
fn http_ok(url: &str, response: &web_sys::Response) -> Result<(), String> {
    if response.ok() {
        return Ok(());
    }
    Err(format!(
        "could not fetch {url}: HTTP {} {}",
        response.status(),
        response.status_text()
    ))
}

/// How a download ended without its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchError {
    /// The visitor stopped it.
    Cancelled,
    /// What went wrong, for a notice.
    Failed(String),
}

/// Stops a download started by [`fetch_packed`].
#[derive(Clone)]
pub struct Abort(web_sys::AbortController);

impl Abort {
    pub fn new() -> Self {
        Self(web_sys::AbortController::new().expect("AbortController"))
    }

    pub fn abort(&self) {
        self.0.abort();
    }

    fn aborted(&self) -> bool {
        self.0.signal().aborted()
    }
}

impl Default for Abort {
    fn default() -> Self {
        Self::new()
    }
}

#[wasm_bindgen]
extern "C" {
    /// The Compression Streams API's unpacker (web-sys has it only behind its unstable APIs):
    /// a readable and writable pair, so a stream pipes through it. Chromium 80, Firefox 113
    /// and Safari 16.4 have it; the page needs wasm SIMD, which Safari has from the same
    /// release.
    #[wasm_bindgen(extends = js_sys::Object)]
    type DecompressionStream;

    /// `format` "deflate" is zlib (RFC 1950).
    #[wasm_bindgen(constructor, catch)]
    fn new(format: &str) -> Result<DecompressionStream, JsValue>;
}

/// Fetches the zlib-packed file `url` (same origin; RFC 1950), unpacked by the browser piece by
/// piece as it arrives. After each piece, `progress` sees the bytes so far (and may reserve room
/// for the rest); it may stop the download with a message (a file it can already tell is
/// wrong). `abort` stops it for the visitor.
pub async fn fetch_packed(
    url: &str,
    abort: &Abort,
    mut progress: impl FnMut(&mut Vec<u8>) -> Result<(), String>,
) -> Result<Vec<u8>, FetchError> {
    // A request the visitor aborted fails too: that is a cancel, not an error.
    let failed = |message: String| {
        if abort.aborted() {
            FetchError::Cancelled
        } else {
            FetchError::Failed(message)
        }
    };
    let unpack = DecompressionStream::new("deflate").map_err(|_| {
        FetchError::Failed(format!(
            "this browser cannot unpack {url} (it has no DecompressionStream); \
             a current Chrome, Edge, Firefox or Safari can"
        ))
    })?;
    let init = web_sys::RequestInit::new();
    init.set_signal(Some(&abort.0.signal()));
    let response = JsFuture::from(window().fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| failed(format!("could not fetch {url}: {}", describe(&e))))?;
    let response: web_sys::Response = response.unchecked_into();
    http_ok(url, &response).map_err(FetchError::Failed)?;
    let header = |name: &str| response.headers().get(name).ok().flatten();
    // A host that answers every address with its start page (as single-page hosts do).
    if header("content-type").is_some_and(|t| t.starts_with("text/html")) {
        return Err(FetchError::Failed(format!(
            "the server sent a web page (text/html) for {url}, not the data file"
        )));
    }
    let mut bytes = Vec::new();
    let Some(body) = response.body() else {
        return Ok(bytes);
    };
    let body = body.pipe_through(unpack.unchecked_ref());
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| {
            failed(format!(
                "could not read or unpack {url}: {}; the download may have been cut off or \
                 the file damaged",
                describe(&e).trim_end_matches('.')
            ))
        })?;
        if get(&chunk, "done").and_then(|d| d.as_bool()) == Some(true) {
            return Ok(bytes);
        }
        let Some(piece) = get(&chunk, "value") else {
            continue;
        };
        let piece: Uint8Array = piece.unchecked_into();
        let start = bytes.len();
        bytes.resize(start + piece.length() as usize, 0);
        piece.copy_to(&mut bytes[start..]);
        if let Err(message) = progress(&mut bytes) {
            let _ = reader.cancel();
            return Err(FetchError::Failed(format!("{url}: {message}")));
        }
    }
}

/// A readable message for a JavaScript error value.
pub fn describe(value: &JsValue) -> String {
    if let Some(error) = value.dyn_ref::<js_sys::Error>() {
        return String::from(error.message());
    }
    value.as_string().unwrap_or_else(|| format!("{value:?}"))
}

/// Gets `object[key]`, if it is defined.
pub fn get(object: &JsValue, key: &str) -> Option<JsValue> {
    js_sys::Reflect::get(object, &JsValue::from_str(key))
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// The navigator object.
pub fn navigator() -> JsValue {
    window().navigator().into()
}

/// The file chosen in the file input that fired `ev`, if any. The input is cleared, so that
/// choosing the same file again fires again.
pub fn chosen_file(ev: &web_sys::Event) -> Option<web_sys::File> {
    let input = ev.target()?.dyn_into::<web_sys::HtmlInputElement>().ok()?;
    let file = input.files()?.get(0)?;
    input.set_value("");
    Some(file)
}
