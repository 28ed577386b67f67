{
  "targets": [
    {
      "target_name": "netconsd_recv",
      "sources": ["recv.c", "send.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "conditions": [
        ["OS != 'linux'", { "type": "none" }]
      ]
    },
    {
      "target_name": "netconsd_cmod",
      "sources": ["cmod.c"],
      "cflags": ["-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "libraries": ["-ldl"],
      "conditions": [
        ["OS != 'linux'", { "type": "none" }]
      ]
    }
  ]
}
