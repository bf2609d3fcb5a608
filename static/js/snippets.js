// Language pickers. On the Settings tab a <select data-snippet-picker> inside [data-snippets]
// shows one snippet panel at a time and remembers the choice per engine; without JS every
// panel stays visible. On the onboarding page the chosen language is a GET parameter that
// is remembered too, and restored when the page is opened without one.
const storageKey = (name) => `zektor.snippet-language.${name}`;

function remembered(name) {
  try { return localStorage.getItem(storageKey(name)); } catch { return null; }
}

function remember(name, value) {
  try { localStorage.setItem(storageKey(name), value); } catch { /* private mode: forget */ }
}

function initSnippetPicker(container) {
  const select = container.querySelector("[data-snippet-picker]");
  if (!select) return;
  const engine = container.dataset.engine;
  const panels = [...container.querySelectorAll("[data-snippet-id]")];
  const show = (id) => panels.forEach((panel) => { panel.hidden = panel.dataset.snippetId !== id; });
  const saved = remembered(engine);
  if (saved && panels.some((panel) => panel.dataset.snippetId === saved)) select.value = saved;
  show(select.value);
  container.querySelector("[data-snippet-picker-wrap]").hidden = false;
  select.addEventListener("change", () => { show(select.value); remember(engine, select.value); });
}

function initOnboardingLanguage(form) {
  // No submit on change: arrow keys in a closed <select> fire it on every step.
  const select = form.querySelector("select[name=language]");
  const params = new URLSearchParams(window.location.search);
  if (params.has("language")) {
    remember("onboarding", params.get("language"));
  } else {
    const saved = remembered("onboarding");
    if (saved && [...select.options].some((option) => option.value === saved && saved)) {
      params.set("language", saved);
      window.location.replace(`?${params}`);
    }
  }
}

export function initSnippetPickers(root) {
  root.querySelectorAll("[data-snippets]").forEach(initSnippetPicker);
  root.querySelectorAll("[data-onboarding-language]").forEach(initOnboardingLanguage);
}
