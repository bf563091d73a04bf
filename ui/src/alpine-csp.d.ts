// @alpinejs/csp ships no types; this is the part of its API the UI uses.
declare module "@alpinejs/csp" {
  export interface AlpineCsp {
    data<T extends object>(name: string, callback: (...args: never[]) => T & ThisType<T>): void;
    store<T>(name: string): T;
    store<T>(name: string, value: T): void;
    start(): void;
    nextTick(callback?: () => void): Promise<void>;
    /** Runs `callback` now and again whenever what it read changes; returns the effect. */
    effect(callback: () => void): unknown;
    /** Stops an effect made by effect(). */
    release(effect: unknown): void;
    /** Makes an object reactive (Vue's reactive()). */
    reactive<T extends object>(value: T): T;
    /** The plain object behind a reactive proxy (Vue's toRaw()); reading it subscribes nothing. */
    raw<T>(value: T): T;
  }
  const Alpine: AlpineCsp;
  export default Alpine;
}
