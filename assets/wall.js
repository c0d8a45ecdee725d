/* Wall screens: one refresh in flight at a time; say loudly when the server cannot be reached, keep the last figures, and say since when.
   Dash keeps the last outputs when a callback request fails; this watches those requests (only on /wall),
   gives each a time limit so a hung connection cannot stall the refresh, and shows a banner outside
   React's tree so a re-render never removes it. */
(function () {
    "use strict";
    var originalFetch = window.fetch.bind(window);
    var TIMEOUT_MS = 30000;
    var downSince = null;
    var lastOk = null;
    var inFlight = false;  // one wall refresh at a time: a slow server never gets a queue of them

    function onWall() { return !!document.querySelector(".hw-wall"); }
    function hhmm(d) { return d.toLocaleTimeString("en-GB", {hour: "2-digit", minute: "2-digit"}); }

    function banner() {
        var el = document.getElementById("hw-offline");
        if (!el) {
            el = document.createElement("div");
            el.id = "hw-offline";
            el.className = "hw-banner hw-banner--down hw-offline";
            el.setAttribute("role", "alert");
            el.hidden = true;
            document.body.appendChild(el);
        }
        return el;
    }

    function render() {
        var el = banner();
        if (downSince && onWall()) {
            el.textContent = "⚠ CANNOT REACH THE HOMEWARD SERVER since " + hhmm(downSince) +
                ". Showing the last figures received" + (lastOk ? " (at " + hhmm(lastOk) + ")" : "") + ".";
            el.hidden = false;
        } else {
            el.hidden = true;
            el.textContent = "";
        }
    }

    window.fetch = function (input, init) {
        var url = typeof input === "string" ? input : (input && input.url) || "";
        if (url.indexOf("_dash-update-component") === -1 || !onWall()) {
            return originalFetch(input, init);
        }
        var isTick = !!(init && typeof init.body === "string" && init.body.indexOf("wall-tick") !== -1);
        if (isTick && inFlight) {
            // 204 is Dash's "no update": this tick is skipped, the figures on screen stay.
            return Promise.resolve(new Response(null, {status: 204}));
        }
        if (isTick) { inFlight = true; }
        var controller = new AbortController();
        var timer = setTimeout(function () { controller.abort(); }, TIMEOUT_MS);
        var options = Object.assign({}, init || {}, {signal: controller.signal});
        return originalFetch(input, options).then(function (response) {
            clearTimeout(timer);
            if (isTick) { inFlight = false; }
            if (response.ok || response.status === 204) {
                downSince = null;
                lastOk = new Date();
            } else if (response.status >= 500) {
                downSince = downSince || new Date();
            }
            render();
            return response;
        }, function (error) {
            clearTimeout(timer);
            if (isTick) { inFlight = false; }
            downSince = downSince || new Date();
            render();
            throw error;
        });
    };

    // Charts are drawn in px for a 1920 px wide wall: zoom them to the screen's width (see homeward.css).
    function scaleCharts() {
        document.documentElement.style.setProperty("--hw-wall-zoom", String(window.innerWidth / 1920));
    }
    window.addEventListener("resize", scaleCharts);
    scaleCharts();
})();
