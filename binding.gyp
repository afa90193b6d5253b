# For tools that only know node-gyp (Electron rebuilders): this delegates to the one real build,
# CMakeLists.txt via scripts/install.cjs, and copies its output. It compiles nothing itself.
{
  "targets": [
    {
      "target_name": "electra",
      "type": "none",
      "actions": [
        {
          "action_name": "cmake_build",
          "inputs": ["CMakeLists.txt"],
          "outputs": ["build/Release/electra.node"],
          "action": ["node", "scripts/install.cjs"]
        }
      ]
    }
  ]
}
