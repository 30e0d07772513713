// Comptoir's only script besides htmx: small progressive enhancements. Every page works without it.
(function () {
  "use strict";
})();
