//! Toy worlds: a small MLP trained live on points on a curve or surface, its decision
//! boundary redrawn every epoch, and the phase numbers that show clinging then dimpling.

use leptos::prelude::*;

/// The toy-world panel (filled in by the boundary-plots work).
#[component]
pub fn ToyPanel() -> impl IntoView {
    view! { <section class="panel" aria-labelledby="toy-title" hidden=true><h2 id="toy-title">"Toy worlds"</h2></section> }
}
