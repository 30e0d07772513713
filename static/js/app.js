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
})();

// --- Cart drawer (templates/cart/_drawer.html, storefront/cart.py) ---------------------------
// The drawer is a modal dialog that htmx swaps in (#cart-drawer.is-open: add to cart, the
// header's cart link) and out (its backdrop and "Close" fetch the closed region). This block
// adds what htmx does not: Escape closes it, Tab stays inside it, and once it is closed the
// focus goes back to what opened it (else to the header's cart link). Without JavaScript there
// is no drawer: the cart link and every form lead to /cart.
(function () {
  "use strict";
  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), " +
    "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  var opener = null;
  var wasOpen = false;

  function drawer() { return document.getElementById("cart-drawer"); }
  function openPanel() { return document.querySelector("#cart-drawer.is-open .cart-drawer__panel"); }

  // A request about to fill the closed drawer: remember where the focus was, to give it back.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var region = drawer();
    if (region && event.detail.target === region && !region.classList.contains("is-open")) {
      opener = document.activeElement;
    }
  });

  document.addEventListener("htmx:afterSettle", function () {
    var region = drawer();
    var isOpen = !!(region && region.classList.contains("is-open"));
    if (wasOpen && !isOpen) {
      // The opener may have been swapped out meanwhile (the cart link is, after each change).
      var back = opener && opener !== document.body && document.contains(opener) ? opener : null;
      back = back || document.getElementById("cart-count");
      if (back) back.focus();
      opener = null;
    }
    wasOpen = isOpen;
  });

  document.addEventListener("keydown", function (event) {
    var panel = openPanel();
    if (!panel) return;
    if (event.key === "Escape") {
      event.preventDefault();
      var close = panel.querySelector(".cart-drawer__close");
      if (close) close.click();
      return;
    }
    if (event.key !== "Tab") return;
    var items = Array.prototype.filter.call(panel.querySelectorAll(FOCUSABLE), function (item) {
      return item.getClientRects().length > 0;
    });
    if (!items.length) return;
    var index = items.indexOf(document.activeElement);
    var inside = panel.contains(document.activeElement);
    if (event.shiftKey && index <= 0) {
      event.preventDefault();
      items[items.length - 1].focus();
    } else if (!event.shiftKey && (index === items.length - 1 || !inside)) {
      event.preventDefault();
      items[0].focus();
    }
  });
})();

// --- Mobile layout: header disclosures and the filters panel (templates/partials/_header.html,
// templates/storefront/products.html) ---------------------------------------------------------
// Without this block the <details> open and close on their own (and `name` keeps one open).
// With it: opening the search puts the cursor in the field; Escape or a click elsewhere closes
// an open header panel; applying the filters on a phone folds the panel so the results show.
(function () {
  "use strict";
  var OPEN_HEADER = ".site-header details.header-disclosure[open]";

  function shown(element) {
    return element && element.offsetParent !== null; // display:none on desktop: not a disclosure
  }

  document.addEventListener("toggle", function (event) {
    var details = event.target;
    if (!details.matches || !details.matches(".header-disclosure--search") || !details.open) return;
    var field = details.querySelector("input[name=q]"); // the header's combobox (type=text)
    if (field) field.focus();
  }, true); // toggle does not bubble

  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape" || event.defaultPrevented) return; // the drawer's, the gallery's
    var open = document.querySelector(OPEN_HEADER);
    var summary = open && open.querySelector("summary");
    if (!shown(summary)) return;
    open.open = false;
    summary.focus();
  });

  document.addEventListener("click", function (event) {
    var open = document.querySelector(OPEN_HEADER);
    if (open && !open.contains(event.target) && shown(open.querySelector("summary"))) {
      open.open = false;
    }
  });

  document.addEventListener("submit", function (event) {
    var panel = event.target.closest && event.target.closest("details.filters-panel[open]");
    var summary = panel && panel.querySelector("summary");
    if (!shown(summary)) return; // desktop: the panel is a sidebar that stays
    panel.open = false;
    summary.focus({ preventScroll: true });
  });
})();

// --- Gallery (templates/storefront/product.html) ---------------------------------------------
// Without this block the thumbnails are links (?image=<id>) and the full-size view is a CSS
// :target: both work. With it, a thumbnail switches the main photo (and the full-size one) in
// place, and Escape or "Close" shuts the full-size view without leaving a history entry
// behind, focus going back to the photo that opened it.
(function () {
  "use strict";
  var gallery = document.getElementById("gallery");
  if (!gallery) return;
  var OPEN = "#photo-full";

  function copyImage(from, to) {
    ["src", "srcset", "alt", "width", "height"].forEach(function (name) {
      var value = from.getAttribute(name);
      if (value === null) to.removeAttribute(name);
      else to.setAttribute(name, value);
    });
  }

  function closeFullView() {
    location.replace("#gallery");
    var opener = gallery.querySelector("[data-gallery-open]");
    if (opener) opener.focus();
  }

  gallery.addEventListener("click", function (event) {
    if (event.button || event.ctrlKey || event.metaKey || event.shiftKey || event.altKey) return;
    var close = event.target.closest("[data-gallery-close]");
    if (close) {
      event.preventDefault();
      closeFullView();
      return;
    }
    var thumb = event.target.closest("[data-gallery-thumb]");
    var picked = thumb && thumb.querySelector("img");
    var main = gallery.querySelector(".gallery__image");
    if (!picked || !main) return;
    event.preventDefault();
    copyImage(picked, main);
    var full = gallery.querySelector(".lightbox__image");
    if (full) copyImage(picked, full);
    gallery.querySelectorAll("[data-gallery-thumb][aria-current]").forEach(function (link) {
      link.removeAttribute("aria-current");
    });
    thumb.setAttribute("aria-current", "true");
    history.replaceState(history.state, "", thumb.href); // a reload or a shared link shows it too
  });

  document.addEventListener("keydown", function (event) {
    if (location.hash !== OPEN) return;
    if (event.key === "Escape") {
      event.preventDefault();
      closeFullView();
    } else if (event.key === "Tab") { // the view covers the page: keep focus on its one control
      event.preventDefault();
      var close = gallery.querySelector("[data-gallery-close]");
      if (close) close.focus();
    }
  });

  window.addEventListener("hashchange", function () {
    if (location.hash !== OPEN) return;
    var close = gallery.querySelector("[data-gallery-close]");
    if (close) close.focus();
  });
})();

// --- Header search suggestions (templates/partials/_header.html, storefront/search.py) -------
// The search field is an ARIA combobox (WAI-ARIA APG, list autocomplete): htmx replaces its
// listbox #search-suggestions as the shopper types. This block adds the keys. ArrowDown and
// ArrowUp move the highlighted suggestion (aria-activedescendant: the focus stays in the field),
// Enter opens it (with none highlighted, Enter submits the search as usual), Escape closes the
// list (a second Escape is the field's own: it clears it), and so does leaving the field. A
// click on a suggestion is a plain link. Without JavaScript there is no list at all.
(function () {
  "use strict";
  var FIELD_ID = "header-q";
  var LIST_ID = "search-suggestions";
  var dismissed = null; // the value Escape closed the list for: a late answer stays closed

  function field() { return document.getElementById(FIELD_ID); }
  function list() { return document.getElementById(LIST_ID); }
  function options() {
    var box = list();
    return box ? Array.prototype.slice.call(box.querySelectorAll("[role=option]")) : [];
  }
  function isOpen() {
    var box = list();
    return !!(box && !box.hidden && options().length);
  }

  function highlight(option) {
    var input = field();
    options().forEach(function (item) {
      item.setAttribute("aria-selected", item === option ? "true" : "false");
    });
    if (!input) return;
    if (option) {
      input.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function setOpen(open) {
    var input = field();
    var box = list();
    if (!input || !box) return;
    open = open && options().length > 0;
    box.hidden = !open;
    input.setAttribute("aria-expanded", open ? "true" : "false");
    if (!open) highlight(null);
  }

  // A new list arrived: shown when it has suggestions and the shopper is still in the field.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.target || event.target.id !== LIST_ID) return;
    var input = field();
    highlight(null);
    setOpen(!!input && document.activeElement === input && input.value !== dismissed);
  });

  document.addEventListener("input", function (event) {
    if (event.target === field()) dismissed = null;
  });

  // Capture phase: an Escape that closes the list must not also close the header's search
  // panel (the mobile layout's block listens on the document).
  document.addEventListener("keydown", function (event) {
    var input = field();
    if (!input || event.target !== input || event.altKey || event.ctrlKey || event.metaKey) return;
    var items = options();
    var active = document.getElementById(input.getAttribute("aria-activedescendant") || "");
    var index = items.indexOf(active);
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      if (!items.length) return;
      event.preventDefault();
      var down = event.key === "ArrowDown";
      if (!isOpen()) {
        dismissed = null;
        setOpen(true);
        highlight(down ? items[0] : items[items.length - 1]);
        return;
      }
      var next = (index + (down ? 1 : -1) + items.length) % items.length;
      if (index < 0) next = down ? 0 : items.length - 1;
      highlight(items[next]);
    } else if (event.key === "Enter") {
      if (isOpen() && active && active.href) {
        event.preventDefault();
        window.location.assign(active.href);
      }
    } else if (event.key === "Escape") {
      if (isOpen()) {
        event.preventDefault();
        event.stopPropagation();
        dismissed = input.value;
        setOpen(false);
      }
    }
  }, true);

  // Leaving the field closes the list, unless the focus went into it (a click on a suggestion).
  document.addEventListener("focusout", function (event) {
    if (event.target !== field()) return;
    var box = list();
    if (box && event.relatedTarget && box.contains(event.relatedTarget)) return;
    setOpen(false);
  });
})();
