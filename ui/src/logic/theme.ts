// Light or dark: the person's choice (kept in localStorage), else the
// system's. The palettes themselves are in style.css (`.dark`).

export type ThemeChoice = "system" | "light" | "dark";
export type Theme = "light" | "dark";

export const THEME_KEY = "cortex.theme";

export function parseChoice(stored: string | null | undefined): ThemeChoice {
  return stored === "light" || stored === "dark" ? stored : "system";
}

export function resolveTheme(choice: ThemeChoice, systemDark: boolean): Theme {
  if (choice === "system") return systemDark ? "dark" : "light";
  return choice;
}

/** The toggle's next choice: the opposite of what is shown (a click always changes it). */
export function nextChoice(shown: Theme): ThemeChoice {
  return shown === "dark" ? "light" : "dark";
}

/** Sets the theme on the document's root element (`.dark`, `color-scheme`, `data-theme`). */
export function applyTheme(root: { classList: DOMTokenList; dataset: DOMStringMap }, theme: Theme): void {
  root.classList.toggle("dark", theme === "dark");
  root.dataset.theme = theme;
}
