import { afterEach, describe, expect, it, vi } from 'vitest';
import { copyText, selectContents, selectedNote } from './clipboard';

/** A clipboard that takes the text, or refuses like a browser without permission. */
function clipboard(refuse = false) {
  const written: string[] = [];
  return {
    written,
    writeText: vi.fn(async (text: string) => {
      if (refuse) throw new DOMException('denied', 'NotAllowedError');
      written.push(text);
    }),
  };
}

/** A text field: what happened to it, in order. */
function field() {
  const done: string[] = [];
  const element = { focus: () => done.push('focus'), select: () => done.push('select') };
  return { done, element: element as unknown as HTMLElement };
}

/** A block of text (no `select`), with the page's selection API stubbed. */
function block() {
  const done: string[] = [];
  const element = { focus: () => done.push('focus') } as unknown as HTMLElement;
  const range = { selectNodeContents: (node: unknown) => done.push(node === element ? 'range' : 'range of another node') };
  vi.stubGlobal('document', { createRange: () => range });
  vi.stubGlobal('getSelection', () => ({
    removeAllRanges: () => done.push('clear'),
    addRange: (added: unknown) => done.push(added === range ? 'add' : 'add another range'),
  }));
  return { done, element };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('copyText', () => {
  it('writes the text to the clipboard and asks for nothing to select', async () => {
    const board = clipboard();
    const fallback = vi.fn(() => field().element);
    await expect(copyText('https://accounts.example/auth?x=1', { clipboard: board, fallback })).resolves.toBe('copied');
    expect(board.written).toEqual(['https://accounts.example/auth?x=1']);
    expect(fallback).not.toHaveBeenCalled();
  });

  it('uses the browser’s clipboard by default', async () => {
    const board = clipboard();
    vi.stubGlobal('navigator', { clipboard: board });
    await expect(copyText('text', { fallback: () => undefined })).resolves.toBe('copied');
    expect(board.written).toEqual(['text']);
  });

  it('selects a field’s value (focused first) when the clipboard refuses', async () => {
    const target = field();
    await expect(copyText('link', { clipboard: clipboard(true), fallback: () => target.element })).resolves.toBe('selected');
    expect(target.done).toEqual(['focus', 'select']);
  });

  it('selects when there is no clipboard at all, waiting for the element to be shown', async () => {
    const target = field();
    vi.stubGlobal('navigator', {});
    const fallback = () => Promise.resolve(target.element);
    await expect(copyText('link', { fallback })).resolves.toBe('selected');
    await expect(copyText('link', { clipboard: null, fallback })).resolves.toBe('selected');
    expect(target.done).toEqual(['focus', 'select', 'focus', 'select']);
  });

  it('says it failed when there is nothing to select either', async () => {
    await expect(copyText('link', { clipboard: clipboard(true), fallback: () => null })).resolves.toBe('failed');
  });
});

describe('selectContents', () => {
  it('selects all of an element’s text, replacing the selection, then focuses it', () => {
    const target = block();
    selectContents(target.element);
    expect(target.done).toEqual(['range', 'clear', 'add', 'focus']);
  });

  it('selects a field’s value', () => {
    const target = field();
    selectContents(target.element);
    expect(target.done).toEqual(['focus', 'select']);
  });
});

describe('selectedNote', () => {
  it('says what is selected and which keys copy it', () => {
    expect(selectedNote('link')).toBe('The link is selected: press Ctrl+C (⌘C on a Mac) to copy it.');
    expect(selectedNote('text')).toBe('The text is selected: press Ctrl+C (⌘C on a Mac) to copy it.');
  });
});
