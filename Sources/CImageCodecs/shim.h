// The console's thumbnails: PNG and WebP decoded with libpng's simplified API and libwebp,
// encoded as WebP. Neither API longjmps across the caller (libpng's simplified API keeps its
// setjmp inside), so both are safe to call from Swift.
#include <png.h>
#include <webp/decode.h>
#include <webp/encode.h>

// PNG_FORMAT_RGBA is a macro of flags Swift does not import.
static const png_uint_32 lnq_png_format_rgba = PNG_FORMAT_RGBA;
