// Comptoir's only script besides htmx: small progressive enhancements. Every page works without it.
(function () {
  "use strict";

  // Cart (storefront/cart.py): a refused change answers 4xx with its message and HX-Retarget
  // (#flashes); htmx leaves 4xx unswapped unless told, so show those messages.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr.status >= 400 && xhr.status < 500 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  // Escape closes the open cart drawer (its close button does the rest).
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var close = document.querySelector("#cart-drawer.is-open .cart-drawer__close");
    if (close) close.click();
  });
})();
