/* Accessibility repairs to Dash's own components (WCAG 2.2 AA; checked by axe-core in tests/browser/):
   - dcc.Dropdown tabs to a hidden (aria-hidden) input that passes the focus to its button: the button takes
     the focus itself instead, so nothing focusable is hidden from screen readers; and its name starts with
     its visible label;
   - dcc.DatePickerRange's wrapper carries button-only ARIA on a plain div, and its "Clear Dates" link an
     aria-label with no role: the wrapper becomes a labelled group, the link a keyboard-usable button.
   React sets these attributes once at mount (or when the component re-renders); an observer repairs them again. */
(function () {
    "use strict";

    // A dropdown's name: its visible label, then the text it shows, as shown (WCAG 2.5.3, label in name).
    function nameDropdown(button) {
        var label = document.querySelector('label[for="' + button.id + '"]');
        // the selected items are separated on screen by ", " (Dash's CSS ::before)
        var items = Array.prototype.map.call(button.querySelectorAll(".dash-dropdown-value-item"),
                                             function (el) { return el.textContent; });
        var value = button.querySelector(".dash-dropdown-value");
        var count = button.querySelector(".dash-dropdown-value-count");
        var shown = (items.length ? items.join(", ") : (value ? value.textContent : "")) + (count ? " " + count.textContent : "");
        var name = ((label ? label.textContent + ": " : "") + shown).replace(/\s+/g, " ").trim();
        if (button.hasAttribute("aria-labelledby")) { button.removeAttribute("aria-labelledby"); }
        if (name && button.getAttribute("aria-label") !== name) { button.setAttribute("aria-label", name); }
    }

    function repair(root) {
        root.querySelectorAll(".dash-dropdown-focus-target").forEach(function (input) {
            if (input.tabIndex !== -1) { input.tabIndex = -1; }
            var button = input.nextElementSibling;
            if (button && button.tagName === "BUTTON" && !button.disabled && button.tabIndex !== 0) { button.tabIndex = 0; }
            if (button && button.id) { nameDropdown(button); }
        });
        root.querySelectorAll(".dash-datepicker-input-wrapper").forEach(function (wrapper) {
            if (wrapper.getAttribute("role") !== "group") { wrapper.setAttribute("role", "group"); }
            ["aria-expanded", "aria-haspopup", "aria-disabled", "type"].forEach(function (name) {
                if (wrapper.hasAttribute(name)) { wrapper.removeAttribute(name); }
            });
            var labelledby = wrapper.getAttribute("aria-labelledby");
            if (labelledby && labelledby.indexOf("undefined") !== -1) {
                wrapper.setAttribute("aria-labelledby", labelledby.split(" ").filter(function (id) {
                    return id !== "undefined" && document.getElementById(id);
                }).join(" "));
            }
        });
        root.querySelectorAll("a.dash-datepicker-clear:not([role])").forEach(function (link) {
            link.setAttribute("role", "button");
            link.tabIndex = 0;
            link.addEventListener("keydown", function (event) {
                if (event.key === "Enter" || event.key === " ") { event.preventDefault(); link.click(); }
            });
        });
    }

    var pending = false;
    function schedule() {
        if (pending) { return; }
        pending = true;
        requestAnimationFrame(function () { pending = false; repair(document); });
    }
    new MutationObserver(schedule).observe(document.documentElement, {
        subtree: true, childList: true, attributes: true, attributeFilter: ["tabindex", "aria-expanded", "aria-labelledby", "aria-label"], characterData: true
    });
    schedule();
})();
