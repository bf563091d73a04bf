// The Settings page's expert editor: one profile at a time, checked by the
// engine under the rules of `cortex config check` (Check), saved only when
// it passes (Save); a refusal is shown at the field its key names.

import { describeError } from "../../logic/errors";
import { EXPERT_FIELDS, errorsOfRefusal, formOfProfile, profileOfForm, type ExpertForm, type ExpertProfile } from "../../logic/experts";
import type { Kit } from "./kit";

export function registerExpertEditor(k: Kit): void {
  const { Alpine, c } = k;
  // Unsaved edits outlive the page.
  const kept = Alpine.reactive({ chosen: "", form: {} as ExpertForm, original: null as ExpertProfile | null });
  Alpine.data("expertEditor", () => ({
    fields: EXPERT_FIELDS,
    profiles: [] as ExpertProfile[],
    kept,
    errors: {} as Record<string, string>,
    status: "",
    busy: false,
    loadError: "",
    async init() {
      const a = await c.review.experts();
      if ("error" in a) {
        this.loadError = describeError("experts", a.error);
        return;
      }
      this.profiles = a.value;
      if (!kept.chosen && a.value.length) this.choose(a.value[0].name);
    },
    choose(name: string) {
      const p = this.profiles.find((x) => x.name === name);
      if (!p) return;
      kept.chosen = name;
      kept.original = p;
      kept.form = formOfProfile(p);
      this.errors = {};
      this.status = "";
    },
    chooseFromSelect(e: Event) {
      this.choose((e.target as HTMLSelectElement).value);
    },
    fieldError(key: string) {
      return this.errors[key] ?? "";
    },
    inputCls(key: string) {
      return this.errors[key] ? "border-red-400 focus:border-red-500 focus:ring-red-500" : "border-slate-300 focus:border-indigo-500 focus:ring-indigo-500";
    },
    get generalError() {
      return this.errors[""] ?? "";
    },
    async submit(save: boolean) {
      if (!kept.original) return;
      const built = profileOfForm(kept.original, kept.form);
      this.errors = built.errors;
      this.status = "";
      if (!built.profile) return;
      this.busy = true;
      const a = save ? await c.review.saveExpert(built.profile) : await c.review.checkExpert(built.profile);
      this.busy = false;
      if ("error" in a) {
        this.errors = errorsOfRefusal(a.error);
        return;
      }
      this.status = save ? `Saved experts/${a.value.name}.json: new workers of ${a.value.name} use it.` : "The engine accepts this profile (nothing saved yet).";
      if (save) {
        kept.original = a.value;
        this.profiles = this.profiles.map((p) => (p.name === a.value.name ? a.value : p));
      }
    },
  }));
}
