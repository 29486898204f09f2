{
  "targets": [
    {
      "target_name": "crossrank",
      "sources": ["<!@(node -p \"require('./native/sources.json').sources.join(' ')\")"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "native",
        "<!(node scripts/native-paths.cjs ort-include)"
      ],
      "libraries": ["<!@(node -p \"require('./native/sources.json').libraries.map(l => '-l' + l).join(' ')\")",
                    "<!(node scripts/native-paths.cjs ort-lib)/libonnxruntime.so.1"],
      "ldflags": ["-Wl,-rpath,'<!(node scripts/native-paths.cjs ort-rpath-gyp)'",
                  "<!@(node -p \"require('./native/sources.json').ldflags.join(' ')\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-frtti",
                    "<!@(node -p \"require('./native/sources.json').cflags.join(' ')\")"]
    }
  ]
}
