//! The plane through an attacked image: the classifier's decision over the plane spanned by
//! an on-manifold and an off-manifold direction, with 1-D margin profiles along each axis.

use leptos::prelude::*;

/// The image-slice panel (filled in by the boundary-plots work).
#[component]
pub fn SlicePanel() -> impl IntoView {
    view! { <section class="panel" aria-labelledby="slice-title" hidden=true><h2 id="slice-title">"The plane through an image"</h2></section> }
}
