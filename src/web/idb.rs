//! The browser's IndexedDB as a small store of byte arrays by key, for the models a visitor
//! keeps in this browser. Every operation is a promise that fails with a readable message
//! where IndexedDB is unavailable (some private modes, a sandboxed frame, storage turned off,
//! a full disk); nothing here panics.

use super::browser::describe;
use js_sys::{Array, Promise, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen(inline_js = r#"
const DB = 'dimple';
const STORE = 'models';
let opening = null;

// The database, opened once; a failed opening is tried again on the next call.
function open() {
  if (opening) return opening;
  opening = new Promise((resolve, reject) => {
    let request;
    try {
      // Reading `indexedDB` itself throws in a sandboxed frame.
      if (!globalThis.indexedDB) throw new Error('this browser offers no IndexedDB');
      request = globalThis.indexedDB.open(DB, 1);
    } catch (e) {
      reject(e);
      return;
    }
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => {
      const db = request.result;
      db.onversionchange = () => db.close();
      resolve(db);
    };
    request.onerror = () => reject(request.error ?? new Error('IndexedDB could not be opened'));
    request.onblocked = () => reject(new Error('another tab of this page holds the storage open'));
  });
  opening.catch(() => { opening = null; });
  return opening;
}

// Runs `work` on the store in one transaction; resolves to what `finish` makes of its
// requests once the transaction has completed.
function transact(mode, work, finish) {
  return open().then((db) => new Promise((resolve, reject) => {
    let tx;
    let requests;
    try {
      tx = db.transaction(STORE, mode);
      requests = work(tx.objectStore(STORE));
    } catch (e) {
      reject(e);
      return;
    }
    tx.oncomplete = () => resolve(finish(requests));
    tx.onerror = () => reject(tx.error ?? new Error('the storage refused the change'));
    tx.onabort = () => reject(tx.error ?? new Error('the storage change was aborted'));
  }));
}

// A copy: the argument is a view into the module's memory, which must not be cloned whole.
export function idb_put(key, bytes) {
  const copy = new Uint8Array(bytes);
  return transact('readwrite', (s) => s.put(copy, key), () => undefined);
}

export function idb_get(key) {
  return transact('readonly', (s) => s.get(key), (r) => r.result);
}

export function idb_delete(key) {
  return transact('readwrite', (s) => s.delete(key), () => undefined);
}

export function idb_entries() {
  return transact(
    'readonly',
    (s) => [s.getAllKeys(), s.getAll()],
    ([keys, values]) => keys.result.map((k, i) => [k, values.result[i]]),
  );
}
"#)]
extern "C" {
    fn idb_put(key: &str, bytes: &[u8]) -> Promise;
    fn idb_get(key: &str) -> Promise;
    fn idb_delete(key: &str) -> Promise;
    fn idb_entries() -> Promise;
}

/// Waits for `promise`, turning a rejection into a clause (without a final full stop).
async fn settle(promise: Promise) -> Result<JsValue, String> {
    JsFuture::from(promise)
        .await
        .map_err(|e| describe(&e).trim_end_matches('.').to_string())
}

/// The bytes of a stored value, or an error for a value this module did not write.
fn bytes_of(value: &JsValue) -> Result<Vec<u8>, String> {
    value
        .dyn_ref::<Uint8Array>()
        .map(Uint8Array::to_vec)
        .ok_or_else(|| "a stored value is not a byte array".into())
}

/// Stores `bytes` under `key`, replacing what was there.
pub async fn put(key: &str, bytes: &[u8]) -> Result<(), String> {
    settle(idb_put(key, bytes)).await.map(drop)
}

/// The bytes stored under `key`, if any.
pub async fn get(key: &str) -> Result<Option<Vec<u8>>, String> {
    let value = settle(idb_get(key)).await?;
    if value.is_undefined() {
        return Ok(None);
    }
    bytes_of(&value).map(Some)
}

/// Removes what is stored under `key` (nothing if there is nothing).
pub async fn delete(key: &str) -> Result<(), String> {
    settle(idb_delete(key)).await.map(drop)
}

/// Every key with its bytes, in key order.
pub async fn entries() -> Result<Vec<(String, Vec<u8>)>, String> {
    let all: Array = settle(idb_entries()).await?.unchecked_into();
    all.iter()
        .map(|pair| {
            let pair: Array = pair.unchecked_into();
            let key = pair.get(0).as_string().ok_or("a stored key is not text")?;
            Ok((key, bytes_of(&pair.get(1))?))
        })
        .collect()
}
