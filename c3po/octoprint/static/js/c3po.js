// c3po: show the plugin's decisions (blocked uploads, stopped prints) as notifications.
$(function () {
    function C3POViewModel() {
        var self = this;
        self.onDataUpdaterPluginMessage = function (plugin, data) {
            if (plugin !== "c3po" || !data || !data.message) return;
            var serious = ["flagged", "refused", "blocked", "error"].indexOf(data.kind) >= 0;
            new PNotify({
                title: "c3po",
                text: data.message,
                type: serious ? "error" : (data.kind === "warning" ? "notice" : "info"),
                hide: !serious
            });
        };
    }
    OCTOPRINT_VIEWMODELS.push({construct: C3POViewModel, dependencies: [], elements: []});
});
