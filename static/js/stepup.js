// Step-up in place: when the portal answers 401 {"error": "step_up_required", ...}, a dialog
// asks for the authenticator code (or the password, for accounts without a second factor)
// or offers the SSO re-authentication link; confirmStepUp() resolves once the proof counts.
import { csrfToken } from "./csrf.js";
import { getCredential, webauthnAvailable } from "./webauthn.js";

function field(methods) {
  const input = document.createElement("input");
  input.required = true;
  if (methods.includes("code")) {
    input.name = "code";
    input.autocomplete = "one-time-code";
    return ["Authentication code or recovery code", input];
  }
  input.name = "password";
  input.type = "password";
  input.autocomplete = "current-password";
  return ["Your password", input];
}

function buildDialog(challenge) {
  const dialog = document.createElement("dialog");
  dialog.className = "step-up-dialog";
  dialog.setAttribute("aria-labelledby", "step-up-title");
  const title = document.createElement("h2");
  title.id = "step-up-title";
  title.textContent = "Confirm it is you";
  const text = document.createElement("p");
  text.textContent = challenge.message;
  const error = document.createElement("p");
  error.className = "error";
  error.setAttribute("role", "alert");
  error.hidden = true;
  dialog.append(title, text, error);
  const form = document.createElement("form");
  form.method = "dialog";
  form.className = "stack";
  if (challenge.methods.includes("code") || challenge.methods.includes("password")) {
    const [labelText, input] = field(challenge.methods);
    input.id = "step-up-input";
    const label = document.createElement("label");
    label.htmlFor = input.id;
    label.textContent = labelText;
    const submit = document.createElement("button");
    submit.type = "submit";
    submit.className = "button primary";
    submit.textContent = "Confirm and continue";
    form.append(label, input, submit);
  }
  if (challenge.key_options && webauthnAvailable()) {
    const key = document.createElement("button");
    key.type = "button";
    key.className = "button primary";
    key.textContent = "Use your security key";
    key.dataset.stepUpKey = "";
    form.append(key);
  }
  if (challenge.sso_url) {
    const link = document.createElement("a");
    link.className = "button";
    link.href = challenge.sso_url;
    link.textContent = "Confirm with single sign-on";
    form.append(link);
  }
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.className = "button";
  cancel.textContent = "Cancel";
  cancel.value = "cancel";
  form.append(cancel);
  dialog.append(form);
  return { dialog, form, error, cancel };
}

async function sendProof(url, proof) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(proof),
  });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || "That did not work");
}

// Resolves when the user proved it, rejects when they cancel.
export function confirmStepUp(challenge) {
  const { dialog, form, error, cancel } = buildDialog(challenge);
  document.body.append(dialog);
  dialog.showModal();
  return new Promise((resolve, reject) => {
    const close = (outcome) => {
      dialog.close();
      dialog.remove();
      outcome();
    };
    cancel.addEventListener("click", () => close(() => reject(new Error("Cancelled"))));
    dialog.addEventListener("cancel", () => close(() => reject(new Error("Cancelled"))));
    const prove = async (proof) => {
      try {
        await sendProof(challenge.step_up_url, await proof());
        close(resolve);
      } catch (problem) {
        error.textContent = problem.message;
        error.hidden = false;
      }
    };
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const input = form.querySelector("input");
      prove(async () => ({ [input.name]: input.value }));
    });
    const key = form.querySelector("[data-step-up-key]");
    if (key) {
      key.addEventListener("click", () =>
        prove(async () => ({ credential: await getCredential(challenge.key_options) })),
      );
    }
  });
}

export async function isStepUpChallenge(response) {
  if (response.status !== 401) return null;
  const body = await response.json().catch(() => null);
  return body && body.error === "step_up_required" ? body : null;
}
