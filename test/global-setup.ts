/**
 * Runs once in jest's own process before any test (jest.config.cjs `globalSetup`); what it puts in
 * process.env reaches the test processes and their children (a test file's process.env is a copy).
 *
 * libtorch's profiler (Kineto) logs each start and stop ("profiler_start", "profiler_stop") and,
 * on a CUDA-enabled libtorch without a GPU, "gpuGetDeviceCount failed" to stderr from C++, where
 * jest cannot capture it. The tests check what the profiler returns, so its log is turned off
 * (level 6 is above all of Kineto's levels) unless KINETO_LOG_LEVEL is set to look at it.
 */
export default function globalSetup(): void {
  process.env.KINETO_LOG_LEVEL ??= '6';
}
