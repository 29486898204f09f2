// The one way binding files include napi.h, so every translation unit sees the same settings.
//
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: when an environment is being torn down (a worker thread
// terminated, the process exiting) while native work finishes, N-API calls that would run JS fail.
// Without this, node-addon-api turns such a failure into a C++ exception thrown from a completion
// callback, and the process aborts ("terminate called after throwing an instance of
// 'Napi::Error'"). With it, an error that cannot be thrown into a dying environment is dropped.
//
// NODE_ADDON_API_CPP_EXCEPTIONS_ALL: a C++ exception other than Napi::Error that escapes a method
// (std::bad_alloc, std::length_error, a crossrank::Error a binding forgot to convert) becomes a JS
// error instead of std::terminate. The bindings still convert the errors they expect themselves,
// with their codes; this is the net under them.
#pragma once
#ifndef NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#endif
#ifndef NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#define NODE_ADDON_API_CPP_EXCEPTIONS_ALL
#endif
#include <napi.h>
