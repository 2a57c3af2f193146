/** Offers a Blob as a file download (an object URL on a temporary link). */
export function downloadBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  // The download has started reading the URL by the next task.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
