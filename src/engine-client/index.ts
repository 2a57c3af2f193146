// The UI's only door to the engine: the client, the error type and the protocol's plain-data types.

export { connectEngine, createEngineClient, type EngineClient } from './client';
export { DEFAULT_REPO, HUB_ENDPOINT, KNOWN_REPOS, ModelSpecError, modelSourceFor } from './model-source';
export type {
  AdapterSummary,
  AskDump,
  AskEvent,
  AskPhase,
  AskRequest,
  AskResult,
  AskStats,
  CachedModel,
  DecodePath,
  DoneEvent,
  DownloadProgress,
  ElementPlan,
  Engine,
  EngineErrorInfo,
  EngineErrorKind,
  InitOptions,
  LoadedVideo,
  LoadModelOptions,
  ModelInfo,
  ModelLoadProgress,
  ModelSource,
  PixelInput,
  ReasoningEvent,
  SampleMethod,
  SamplingOptions,
  SelfTestProgress,
  SelfTestResult,
  StageTimes,
  VideoFacts,
  VideoLoadResult,
  VideoProgress,
  VideoSettings,
  VideoSource,
  VisionProgress,
  WeightFormat,
} from './protocol';
export { EngineError, errorInfo } from './protocol';
export { type LoadVideoHooks, loadVideo } from './video';
