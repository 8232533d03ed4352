// Keyport dashboard: search-as-you-type, copy buttons, the connect popup. Everything works without it.
(function () {
  "use strict";

  function filterList(input) {
    var list = document.getElementById(input.getAttribute("data-filter"));
    if (!list) { return; }
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(list.children, function (item) {
      var text = item.getAttribute("data-search") || "";
      var match = words.every(function (w) { return text.indexOf(w) !== -1; });
      item.hidden = !match;
      if (match) { shown += 1; }
    });
    var count = document.getElementById("integrations-count");
    if (count) { count.textContent = shown + " shown"; }
    var empty = document.getElementById("integrations-empty");
    if (empty) { empty.hidden = shown !== 0; }
  }

  function setUpSearch() {
    document.querySelectorAll("input[data-filter]").forEach(function (input) {
      input.addEventListener("input", function () { filterList(input); });
      if (input.value) { filterList(input); }
    });
  }

  function setUpCopy() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      if (!navigator.clipboard) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var field = document.getElementById(button.getAttribute("data-copy"));
        navigator.clipboard.writeText(field.value).then(function () {
          button.textContent = "Copied";
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        }, function () {
          field.select();
        });
      });
    });
  }

  function status(text, tone) {
    var box = document.getElementById("connect-status");
    if (!box) { return; }
    box.className = "alert " + tone;
    box.textContent = text;
    box.hidden = false;
  }

  function setUpConnect() {
    document.querySelectorAll("a[data-connect]").forEach(function (link) {
      link.addEventListener("click", function (event) {
        event.preventDefault();
        var popup = window.open(link.href, "keyport-connect", "popup,width=620,height=720");
        if (!popup) { window.location.href = link.href; return; }
        status("Connecting in the popup window…", "");
        var settled = false;
        function onMessage(message) {
          if (message.origin !== window.location.origin || message.source !== popup) { return; }
          var data = message.data || {};
          if (data.eventType === "AUTHORIZATION_SUCEEDED" && data.data && data.data.authId) {
            settled = true;
            window.removeEventListener("message", onMessage);
            var here = window.location.pathname.replace(/\/$/, "");
            window.location.href = here + "/authentications/" + encodeURIComponent(data.data.authId) + "?notice=connected";
          } else if (data.eventType === "AUTHORIZATION_FAILED") {
            settled = true;
            window.removeEventListener("message", onMessage);
            var error = (data.data && data.data.error) || {};
            status("The connection failed: " + (error.message || "unknown error") + (error.type ? " (" + error.type + ")" : ""), "bad");
          }
        }
        window.addEventListener("message", onMessage);
        var timer = setInterval(function () {
          if (!popup.closed) { return; }
          clearInterval(timer);
          // Closed without a message this page could read (another origin was allowed): show what is stored now.
          setTimeout(function () { if (!settled) { window.location.reload(); } }, 500);
        }, 400);
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpSearch();
    setUpCopy();
    setUpConnect();
  });
})();
