// AE_API marks the symbols libae.so exports; everything else is hidden (-fvisibility=hidden).
#pragma once

#if defined(_WIN32)
#define AE_API __declspec(dllexport)
#else
#define AE_API __attribute__((visibility("default")))
#endif
