/** Placeholder for the video input: shown, styled, and clearly not active yet. */
export function VideoDropZone() {
  return (
    <section
      className="card dropzone"
      aria-labelledby="dropzone-title"
      aria-disabled="true"
      data-testid="video-dropzone"
    >
      <svg viewBox="0 0 48 48" className="dropzone-icon" aria-hidden="true">
        <rect x="5" y="10" width="38" height="28" rx="5" />
        <path d="M20 18v12l10-6z" />
      </svg>
      <h2 id="dropzone-title" className="dropzone-title">
        Drop a video here
      </h2>
      <p className="dropzone-note">
        Video input comes next: this release checks that your GPU can run the model.
      </p>
      <button type="button" className="button" disabled>
        Choose a video…
      </button>
    </section>
  );
}
