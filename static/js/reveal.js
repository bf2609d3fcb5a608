// Audited copy of secrets: <button data-copy-secret="password|uri" data-copy-url="..."> POSTs
// {field} with the CSRF token; the server records the copy and answers {"value": ...}, which
// goes to the clipboard only (never into the page). Buttons stay hidden without JS.
// A step-up challenge (401) opens the in-place dialog, then the copy is sent again.
import { flash } from "./copy.js";
import { csrfToken } from "./csrf.js";
import { confirmStepUp, isStepUpChallenge } from "./stepup.js";

function requestCopy(button) {
  return fetch(button.dataset.copyUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "Content-Type": "application/json",
      "X-CSRFToken": csrfToken(),
      "X-Step-Up-Return": window.location.pathname + window.location.search,
    },
    body: JSON.stringify({ field: button.dataset.copySecret }),
  });
}

async function copySecret(button) {
  let response = await requestCopy(button);
  const challenge = await isStepUpChallenge(response.clone());
  if (challenge) {
    await confirmStepUp(challenge);
    response = await requestCopy(button);
  }
  if (response.status === 429) throw new Error("Too many copies, wait a minute");
  if (!response.ok) throw new Error("Copy failed");
  const { value } = await response.json();
  await navigator.clipboard.writeText(value);
}

export function initSecretCopy(root) {
  root.querySelectorAll("[data-copy-secret]").forEach((button) => {
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        await copySecret(button);
        flash(button, "Copied");
      } catch (error) {
        flash(button, error.message);
      } finally {
        button.disabled = false;
      }
    });
  });
}
