// The segmented filter control every list page shows (Workers, Tasks,
// Activity): its options come from the page's logic module, the choice is
// kept in `ui` so it outlives the page. In the template:
//   <template x-for="o in filter.options" :key="o.id">
//     <button class="seg-btn" :class="filter.cls(o.id)" @click="filter.set(o.id)" x-text="o.label"></button>
//   </template>

/** A button of a segmented control, selected or not. */
export const segmentClass = (selected: boolean) =>
  selected ? "bg-white text-slate-900 shadow-sm" : "text-slate-500 hover:text-slate-800";

export interface SegmentedFilter<F extends string> {
  readonly options: readonly { id: F; label: string }[];
  readonly value: F;
  set(f: F): void;
  cls(f: string): string;
}

export function segmentedFilter<F extends string>(ui: { filter: F }, options: readonly { id: F; label: string }[]): SegmentedFilter<F> {
  return {
    options,
    get value() {
      return ui.filter;
    },
    set(f: F) {
      ui.filter = f;
    },
    cls(f: string) {
      return segmentClass(ui.filter === f);
    },
  };
}
