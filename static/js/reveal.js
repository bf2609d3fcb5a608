// Audited copy of secrets: <button data-copy-secret="password|uri" data-copy-url="..."> POSTs
// {field} with the CSRF token; the server records the copy and answers {"value": ...}, which
// goes to the clipboard only (never into the page). Buttons stay hidden without JS.
import { flash } from "./copy.js";

function csrfToken() {
  const field = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (field) return field.value;
  const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
}

async function copySecret(button) {
  const response = await fetch(button.dataset.copyUrl, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify({ field: button.dataset.copySecret }),
  });
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
