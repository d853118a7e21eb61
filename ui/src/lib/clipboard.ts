// "Copy link", "Copy diagnostics": put text on the clipboard or, where the page
// may not write to it (permission refused, no clipboard), select the text on the
// page so that Ctrl+C / ⌘C copies it.

/** How a copy went: on the clipboard, selected on the page instead, or neither. */
export type CopyOutcome = 'copied' | 'selected' | 'failed';

export interface CopyOptions {
  /**
   * The element that shows the text, to select when the clipboard can't be
   * written. Asked only then (the caller may need to render it first).
   */
  fallback: () => HTMLElement | null | undefined | Promise<HTMLElement | null | undefined>;
  /** The clipboard to write to; the browser's by default. */
  clipboard?: Pick<Clipboard, 'writeText'> | null;
}

/** The note that tells the user `what` ("link", "text") is selected and how to copy it. */
export function selectedNote(what: string): string {
  return `The ${what} is selected: press Ctrl+C (⌘C on a Mac) to copy it.`;
}

/** Focus `element` and select all of it: a text field's value, else its text. */
export function selectContents(element: HTMLElement): void {
  if ('select' in element && typeof element.select === 'function') {
    element.focus();
    (element as HTMLInputElement | HTMLTextAreaElement).select();
    return;
  }
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = getSelection();
  selection?.removeAllRanges();
  selection?.addRange(range);
  element.focus();
}

/** Copy `text` to the clipboard, or select it on the page when that is refused. */
export async function copyText(text: string, options: CopyOptions): Promise<CopyOutcome> {
  const clipboard = options.clipboard === undefined ? globalThis.navigator?.clipboard : options.clipboard;
  try {
    if (!clipboard) throw new Error('No clipboard');
    await clipboard.writeText(text);
    return 'copied';
  } catch {
    const element = await options.fallback();
    if (!element) return 'failed';
    selectContents(element);
    return 'selected';
  }
}
