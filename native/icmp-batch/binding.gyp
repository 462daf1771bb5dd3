{
  "targets": [
    {
      "target_name": "icmp_batch",
      "sources": ["icmp_batch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
