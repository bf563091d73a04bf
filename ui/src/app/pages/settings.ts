// The Settings page: the configuration form (validated here, then by the
// engine, errors placed at their fields) and the doctor's findings.

import { TONE_CLASSES } from "../../logic/badges";
import { configToForm, FIELDS, formToConfig, GROUPS, launcherRow, placeError, type FormValues } from "../../logic/settings";
import { withKept, type Kit } from "./kit";

export function registerSettings(k: Kit): void {
  const { Alpine, s, c } = k;
  // The form, with edits not saved yet, is kept while the page is closed.
  const settingsForm = Alpine.reactive({
    values: configToForm({}) as FormValues,
    fieldErrors: {} as Record<string, string>,
    generalError: "",
    saving: false,
    dirty: false,
    loadedFrom: null as object | null,
  });
  const settingsGroups = GROUPS.map((g) => ({ ...g, fields: FIELDS.filter((f) => f.group === g.id) }));
  Alpine.data("settingsView", () => {
    const fx = k.scope();
    const f = settingsForm;
    const kept = ["values", "fieldErrors", "generalError", "saving", "dirty", "loadedFrom"] as const;
    return withKept(f, kept, {
      destroy() {
        fx.stop();
      },
      groups: settingsGroups,
      init() {
        fx.effect(() => {
          const settings = s.settings;
          if (settings && settings.config !== f.loadedFrom && !f.dirty) this.fillForm();
        });
      },
      fillForm() {
        const settings = s.settings;
        this.values = configToForm(settings?.config ?? {});
        this.loadedFrom = settings?.config ?? null;
        this.fieldErrors = {};
        this.generalError = "";
        this.dirty = false;
      },
      get hasSettings() {
        return s.settings !== null;
      },
      /** Why the settings files edited on disk were not read ("" when they were). */
      get diskRefused() {
        return s.status?.settings_refused ?? "";
      },
      markDirty(key: string) {
        this.dirty = true;
        if (this.fieldErrors[key]) {
          const next = { ...this.fieldErrors };
          delete next[key];
          this.fieldErrors = next;
        }
      },
      fieldError(key: string) {
        return this.fieldErrors[key] ?? "";
      },
      inputClass(key: string) {
        return this.fieldErrors[key]
          ? "border-red-400 bg-red-50 focus:border-red-500 focus:ring-red-500"
          : "border-slate-300 focus:border-indigo-500 focus:ring-indigo-500";
      },
      placeholder(def: unknown) {
        return Array.isArray(def) ? JSON.stringify(def) : String(def);
      },
      async saveSettings() {
        if (this.saving) return;
        const base = (s.settings?.config ?? {}) as Record<string, unknown>;
        const { config, errors } = formToConfig(this.values, base);
        this.fieldErrors = errors;
        this.generalError = "";
        if (Object.keys(errors).length > 0) return;
        this.saving = true;
        const r = await c.actions.saveSettings(config);
        this.saving = false;
        if ("error" in r) {
          const placed = placeError(r.error);
          this.fieldErrors = placed.fields;
          this.generalError = placed.general ?? "";
          return;
        }
        this.dirty = false;
        this.fillForm();
      },
      resetForm() {
        this.fillForm();
      },
      get doctor() {
        return s.doctor;
      },
      get doctorRows() {
        const d = s.doctor;
        if (!d) return [];
        return [
          { label: "Cortex", value: d.version ?? "unknown", cls: d.version ? "" : "text-amber-700" },
          { label: "Agent command", value: JSON.stringify(d.agent_command), cls: "" },
          { label: "Resolves to", value: d.agent_resolved ?? d.agent_problem ?? "not found", cls: d.agent_resolved ? "" : "text-red-700 font-medium" },
          { label: "Agent version", value: d.agent_version ?? "unknown", cls: d.agent_version ? "" : "text-amber-700" },
          { label: "Workers run", ...launcherRow(d) },
          { label: "Home", value: d.home, cls: "" },
          { label: "Notifications", value: d.notifications ?? "—", cls: "" },
        ];
      },
      get doctorError() {
        return s.doctorError;
      },
      refreshDoctor() {
        void c.sync.loadDoctor();
      },
      toneClass(tone: keyof typeof TONE_CLASSES) {
        return TONE_CLASSES[tone];
      },
    });
  });
}
