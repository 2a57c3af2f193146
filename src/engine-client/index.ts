// The UI's only door to the engine: the client and the protocol's plain-data types.

export { EngineError, errorInfo } from '../worker/errors';
export type {
  AskDump,
  AskEvent,
  AskPhase,
  AskRequest,
  AskResult,
  AskStats,
  DoneEvent,
  LoadModelOptions,
  ModelInfo,
  ModelLoadProgress,
  ModelSource,
  PixelInput,
  ReasoningEvent,
  SamplingOptions,
  StageTimes,
  WeightFormat,
} from '../worker/model-protocol';
export type {
  AdapterSummary,
  Engine,
  EngineErrorInfo,
  EngineErrorKind,
  InitOptions,
  SelfTestProgress,
  SelfTestResult,
} from '../worker/protocol';
export type {
  DecodePath,
  ElementPlan,
  LoadedVideo,
  SampleMethod,
  VideoFacts,
  VideoLoadResult,
  VideoProgress,
  VideoSettings,
  VideoSource,
  VisionProgress,
} from '../worker/video-protocol';
export { connectEngine, createEngineClient, type EngineClient } from './client';
