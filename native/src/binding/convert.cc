#include "binding/convert.h"
#include "settings.h"
#include <c10/util/Exception.h>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

namespace electra {

namespace {
std::atomic<int> gThreads{0};

class Executor {
 public:
  // Never destroyed: its thread may still hold a job while the process exits.
  static Executor& get() {
    static Executor* e = new Executor();
    return *e;
  }
  void run(const std::function<void()>& f) {
    Job job{&f};
    {
      std::lock_guard<std::mutex> lk(mu_);
      queue_.push_back(&job);
    }
    cv_.notify_all();
    std::unique_lock<std::mutex> lk(mu_);
    done_.wait(lk, [&] { return job.done; });
    if (job.error) std::rethrow_exception(job.error);
  }

 private:
  struct Job {
    const std::function<void()>* f;
    bool done = false;
    std::exception_ptr error;
  };
  Executor() { std::thread([this] { loop(); }).detach(); }
  void loop() {
    int applied = 0;
    for (;;) {
      Job* job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_.wait(lk, [&] { return !queue_.empty(); });
        job = queue_.front();
        queue_.pop_front();
      }
      try {
        const int n = gThreads.load();
        if (n > 0 && n != applied) at::set_num_threads(n), applied = n;
        (*job->f)();
      } catch (...) {
        job->error = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lk(mu_);
        job->done = true;
      }
      done_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_, done_;
  std::deque<Job*> queue_;
};

}  // namespace

bool executorEnabled() { return settings().executor; }

void runOnExecutor(const std::function<void()>& job) {
  if (executorEnabled()) Executor::get().run(job);
  else job();
}

void setExecutorThreads(int threads) { gThreads.store(threads); }

std::optional<bool> optionalBool(Napi::Env env, Napi::Object o, const char* key, const std::string& prefix) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  if (!v.IsBoolean()) throwJs(env, "ERR_CONFIG", prefix + key + " must be true or false");
  return v.As<Napi::Boolean>().Value();
}

Napi::Error makeJsError(Napi::Env env, const std::string& code, const std::string& message) {
  auto err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

void throwJs(Napi::Env env, const std::string& code, const std::string& message) {
  throw makeJsError(env, code, message);
}

bool runMapped(const std::function<void()>& fn, std::string& code, std::string& message) {
  try {
    fn();
    return true;
  } catch (const Napi::Error&) {
    throw;  // already a JS error (main thread only)
  } catch (const Error& e) {
    code = e.code();
    message = e.what();
  } catch (const c10::OutOfMemoryError& e) {
    code = "ERR_OOM";
    message = e.what_without_backtrace();
  } catch (const c10::Error& e) {
    code = "ERR_TORCH";
    message = e.what_without_backtrace();
  } catch (const std::bad_alloc&) {
    code = "ERR_OOM";
    message = "out of memory";
  } catch (const std::exception& e) {
    code = "ERR_NATIVE";
    message = e.what();
  } catch (...) {
    code = "ERR_NATIVE";
    message = "unknown native exception";
  }
  return false;
}

static torch::ScalarType parseDtype(Napi::Env env, const std::string& s, const std::string& what) {
  if (s == "float32") return torch::kFloat;
  if (s == "float16") return torch::kHalf;
  if (s == "bfloat16") return torch::kBFloat16;
  if (s == "int32") return torch::kInt;
  if (s == "int64") return torch::kLong;
  if (s == "uint8") return torch::kByte;
  throwJs(env, "ERR_INPUT", what + ": unsupported dtype '" + s + "'");
}

static std::vector<int64_t> readShape(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsArray()) throwJs(env, "ERR_INPUT", what + ".shape must be an array of non-negative integers");
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < a.Length(); i++) {
    Napi::Value d = a.Get(i);
    if (!d.IsNumber()) throwJs(env, "ERR_INPUT", what + ".shape must be an array of non-negative integers");
    double x = d.As<Napi::Number>().DoubleValue();
    if (!(x >= 0) || x != static_cast<double>(static_cast<int64_t>(x)) || x > 9.0e15)
      throwJs(env, "ERR_INPUT", what + ".shape must be an array of non-negative integers");
    shape.push_back(static_cast<int64_t>(x));
  }
  return shape;
}

static JsTensor fromTypedArray(Napi::Env env, Napi::Value data, torch::ScalarType dtype, std::vector<int64_t> shape,
                               const std::string& what) {
  if (!data.IsTypedArray()) throwJs(env, "ERR_INPUT", what + ".data must be a typed array");
  auto ta = data.As<Napi::TypedArray>();
  size_t elem = c10::elementSize(dtype);
  if (ta.ElementSize() != elem) throwJs(env, "ERR_INPUT", what + ".data element size does not match its dtype");
  int64_t n = 1;
  for (auto d : shape) {
    if (d != 0 && n > INT64_MAX / d) throwJs(env, "ERR_INPUT", what + ".shape is too large");
    n *= d;
  }
  if (static_cast<int64_t>(ta.ElementLength()) != n) {
    throwJs(env, "ERR_INPUT", what + ": shape [" + c10::Join(",", shape) + "] needs " + std::to_string(n) +
                                  " elements, data has " + std::to_string(ta.ElementLength()));
  }
  JsTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data = static_cast<uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  t.bytes = ta.ByteLength();
  t.keep = Napi::Persistent(data);
  return t;
}

JsTensor readJsTensor(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject()) throwJs(env, "ERR_INPUT", what + " must be an object {dtype, shape, data}");
  auto o = v.As<Napi::Object>();
  Napi::Value dt = o.Get("dtype");
  if (!dt.IsString()) throwJs(env, "ERR_INPUT", what + ".dtype must be a string");
  auto dtype = parseDtype(env, dt.As<Napi::String>().Utf8Value(), what);
  return fromTypedArray(env, o.Get("data"), dtype, readShape(env, o.Get("shape"), what), what);
}

JsTensor readInt32(Napi::Env env, Napi::Value v, const std::vector<int64_t>& shape, const std::string& what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throwJs(env, "ERR_INPUT", what + " must be an Int32Array");
  return fromTypedArray(env, v, torch::kInt, shape, what);
}

torch::Tensor JsTensor::copy() const {
  if (bytes == 0) return torch::empty(shape, torch::TensorOptions().dtype(dtype));
  return torch::from_blob(data, shape, torch::TensorOptions().dtype(dtype)).clone();
}

Napi::Object tensorToJs(Napi::Env env, const torch::Tensor& t0) {
  auto t = t0.detach();
  if (t.scalar_type() == torch::kHalf || t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kDouble) {
    t = t.to(torch::kFloat);
  }
  t = t.to(torch::kCPU).contiguous();
  auto o = Napi::Object::New(env);
  auto shape = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); i++) shape.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(t.size(i))));
  size_t n = static_cast<size_t>(t.numel());
  auto buf = Napi::ArrayBuffer::New(env, t.nbytes());
  if (t.nbytes() > 0) std::memcpy(buf.Data(), t.data_ptr(), t.nbytes());
  switch (t.scalar_type()) {
    case torch::kFloat:
      o.Set("dtype", "float32");
      o.Set("data", Napi::Float32Array::New(env, n, buf, 0));
      break;
    case torch::kInt:
      o.Set("dtype", "int32");
      o.Set("data", Napi::Int32Array::New(env, n, buf, 0));
      break;
    case torch::kLong:
      o.Set("dtype", "int64");
      o.Set("data", Napi::BigInt64Array::New(env, n, buf, 0));
      break;
    case torch::kByte:
    case torch::kBool:
      o.Set("dtype", "uint8");
      o.Set("data", Napi::Uint8Array::New(env, n, buf, 0));
      break;
    default:
      throwJs(env, "ERR_NATIVE", std::string("cannot convert dtype ") + c10::toString(t.scalar_type()));
  }
  o.Set("shape", shape);
  return o;
}

torch::Device parseDevice(const std::string& s) {
  std::optional<torch::Device> d;
  try {
    d.emplace(s);
  } catch (const c10::Error&) {
    fail("ERR_DEVICE", "invalid device '", s, "' (expected 'cpu', 'cuda' or 'cuda:N')");
  }
  if (d->is_cuda()) {
    check(torch::cuda::is_available(), "ERR_DEVICE", "device '", s,
          "' requested but CUDA is not available in this build (see `electra doctor`)");
    if (d->has_index())
      check(d->index() < static_cast<int64_t>(torch::cuda::device_count()), "ERR_DEVICE", "device '", s, "' does not exist (",
            torch::cuda::device_count(), " CUDA devices)");
    else
      d.emplace(torch::kCUDA, 0);
  } else {
    check(d->is_cpu(), "ERR_DEVICE", "unsupported device '", s, "' (cpu or cuda)");
  }
  return *d;
}

Napi::Array namedTensorsToJs(Napi::Env env, const NamedTensors& values) {
  auto arr = Napi::Array::New(env, values.size());
  for (size_t i = 0; i < values.size(); i++) {
    auto o = tensorToJs(env, values[i].second);
    o.Set("name", values[i].first);
    arr.Set(static_cast<uint32_t>(i), o);
  }
  return arr;
}

std::vector<std::pair<std::string, JsTensor>> readNamedTensors(Napi::Env env, Napi::Value v) {
  if (!v.IsArray()) throwJs(env, "ERR_INPUT", "expected an array of {name, dtype, shape, data}");
  auto arr = v.As<Napi::Array>();
  std::vector<std::pair<std::string, JsTensor>> values;
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value e = arr.Get(i);
    if (!e.IsObject() || !e.As<Napi::Object>().Get("name").IsString()) throwJs(env, "ERR_INPUT", "every entry needs a name");
    auto name = e.As<Napi::Object>().Get("name").As<Napi::String>().Utf8Value();
    values.emplace_back(name, readJsTensor(env, e, name));
  }
  return values;
}

JsBatch readBatch(Napi::Env env, Napi::Value v, const std::string& what) {
  if (!v.IsObject()) throwJs(env, "ERR_INPUT", what + " must be a batch object");
  auto b = v.As<Napi::Object>();
  Napi::Value shp = b.Get("shape");
  if (!shp.IsArray() || shp.As<Napi::Array>().Length() != 2) throwJs(env, "ERR_INPUT", what + ".shape must be [B, T]");
  auto sa = shp.As<Napi::Array>();
  std::vector<int64_t> shape;
  for (uint32_t i = 0; i < 2; i++) {
    Napi::Value d = sa.Get(i);
    double x = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(x >= 1) || x > 1e9 || x != static_cast<double>(static_cast<int64_t>(x)))
      throwJs(env, "ERR_INPUT", what + ".shape must be two positive integers");
    shape.push_back(static_cast<int64_t>(x));
  }
  JsBatch jb;
  jb.ids = readInt32(env, b.Get("inputIds"), shape, what + ".inputIds");
  jb.types = readInt32(env, b.Get("tokenTypeIds"), shape, what + ".tokenTypeIds");
  jb.mask = readInt32(env, b.Get("attentionMask"), shape, what + ".attentionMask");
  return jb;
}

std::array<torch::Tensor, 3> JsBatch::tensors() const {
  return {ids.copy().to(torch::kLong), types.copy().to(torch::kLong), mask.copy()};
}

void Worker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  finished();
  try {
    deferred_.Resolve(result(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
}

void Worker::OnError(const Napi::Error& e) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  finished();
  deferred_.Reject(makeJsError(env, code_, e.Message()).Value());
}

}  // namespace electra
