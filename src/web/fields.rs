//! Form controls and progress bars the panels share: a number field, a choice among an
//! enum's values, and an accessible progress bar.

use crate::form::Bounds;
use leptos::prelude::*;

/// A labelled number input bound to a text signal, read on use against `bounds`, which the
/// input states as its `min` and `max`; its `step` is the bounds' own unless one is given.
#[component]
pub fn NumberField(
    label: &'static str,
    testid: &'static str,
    value: RwSignal<String>,
    #[prop(into)] bounds: Bounds,
    #[prop(optional)] step: Option<&'static str>,
    disabled: Signal<bool>,
) -> impl IntoView {
    let (min, max) = bounds.attributes();
    let step = step.unwrap_or(bounds.step());
    view! {
        <label>{label}
            <input type="number" inputmode="decimal" data-testid=testid aria-label=label min=min max=max step=step
                prop:value=move || value.get()
                on:input=move |ev| value.set(event_target_value(&ev))
                disabled=move || disabled.get()/>
        </label>
    }
}

/// A labelled select over `(value, shown text)` options, bound to a text signal.
#[component]
pub fn ChoiceField(
    label: &'static str,
    testid: &'static str,
    value: RwSignal<String>,
    options: Vec<(&'static str, &'static str)>,
    disabled: Signal<bool>,
) -> impl IntoView {
    view! {
        <label>{label}
            <select data-testid=testid
                prop:value=move || value.get()
                on:change=move |ev| value.set(event_target_value(&ev))
                disabled=move || disabled.get()>
                {options.into_iter().map(|(id, text)| view! { <option value=id>{text}</option> }).collect_view()}
            </select>
        </label>
    }
}

/// A progress bar with `aria-valuenow` from 0 to 100.
#[component]
pub fn ProgressBar(
    testid: &'static str,
    label: &'static str,
    percent: Signal<u32>,
) -> impl IntoView {
    view! {
        <div class="progress" role="progressbar" data-testid=testid aria-label=label
            aria-valuemin="0" aria-valuemax="100" aria-valuenow=move || percent.get().to_string()>
            <div style:width=move || format!("{}%", percent.get())></div>
        </div>
    }
}
