# OnnxSteer — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
CLI_DLL := src/OnnxSteer.Cli/bin/$(CONFIG)/net10.0/OnnxSteer.Cli.dll
ONNXSTEER := $(DOTNET) $(CLI_DLL)
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

.PHONY: setup restore ggufjs openaijs build test demo bench bench-serve fuzz pack tool docs clean

# ONNX Runtime comes from NuGet with the restore (Microsoft.ML.OnnxRuntime, CPU). `make build CUDA=1` builds against the
# CUDA 13 natives instead (Microsoft.ML.OnnxRuntime.Gpu.Linux, 276 MiB): see docs/install.md.
ifeq ($(CUDA),1)
export OnnxSteerCuda := true
endif

setup: restore ggufjs openaijs

restore:
	$(DOTNET) restore OnnxSteer.sln

# hyllama (npm, no dependencies) is an independent JavaScript GGUF parser: the Interop tests read the GGUF files OnnxSteer
# writes with it when node and the package are present, and are skipped with that reason when not. Optional, except
# under CI=true, where those tests are not skipped: there a failed fetch stops the build.
HYLLAMA := .cache/npm/hyllama/package/src/hyllama.js
ggufjs: $(HYLLAMA)

$(HYLLAMA):
	@mkdir -p .cache/npm/hyllama
	cd .cache/npm/hyllama && { npm pack --silent hyllama@0.2.2 >/dev/null && tar -xzf hyllama-0.2.2.tgz; } || [ "$$CI" != true ]

# The official npm `openai` client (no dependencies): the Serve tests drive `onnxsteer serve` with it through node
# (tests/openai-js/client.mjs). Optional like hyllama: a failure here is ignored, and the test says what is missing.
OPENAIJS := .cache/npm/openai/node_modules/openai/package.json
openaijs: $(OPENAIJS)

$(OPENAIJS):
	@mkdir -p .cache/npm/openai
	-cd .cache/npm/openai && npm install --silent --no-audit --no-fund --prefix . openai@7.55.0 >/dev/null

build: setup
	$(DOTNET) build OnnxSteer.sln -c $(CONFIG) --nologo -v:q

test: build
	@bash tests/run-tests.sh $(CONFIG)

demo: build
	@bash tests/scripts/demo.sh "$(ONNXSTEER)"

bench: build
	@bash bench/run.sh "$(ONNXSTEER)"

# onnxsteer serve under 1, 4 and 16 concurrent clients on loopback vs in-process sequential generation (issue 22).
bench-serve: build
	@bash bench/serve.sh "$(ONNXSTEER)"

fuzz: build
	@bash tests/scripts/fuzz.sh "$(ONNXSTEER)"

# docs/cli.md from the commands' own --help text (a test fails when it is stale).
docs: build
	ONNXSTEER_UPDATE_DOCS=1 $(DOTNET) test OnnxSteer.sln -c $(CONFIG) --no-build --nologo -v:q --filter "FullyQualifiedName~CliReferenceTests"

# The library (with XML docs) and the tool (ONNX Runtime from NuGet: CPU, or CUDA with CUDA=1, ids OnnxSteer.Cuda and
# OnnxSteer.Cli.Cuda) as NuGet packages in artifacts/; install the tool
# with: dotnet tool install -g OnnxSteer.Cli --add-source artifacts   (tests/…/Packaging checks exactly that).
pack: build
	$(DOTNET) pack src/OnnxSteer/OnnxSteer.csproj -c $(CONFIG) --no-build -o artifacts --nologo
	$(DOTNET) pack src/OnnxSteer.Cli/OnnxSteer.Cli.csproj -c $(CONFIG) --no-build -o artifacts --nologo

# The onnxsteer command for Linux x64 as one native executable (Native AOT): no JIT and no .NET runtime start, so short
# commands (patch, select, inspect) start in milliseconds (issue 29, bench/results.md). Needs a C toolchain (gcc or
# clang) for the native link; `make build` and `make test` do not. Run it as artifacts/onnxsteer-linux-x64/onnxsteer
# (docs/install.md); ONNX Runtime's libraries sit beside it.
TOOL_DIR := artifacts/onnxsteer-linux-x64
tool: build
	$(DOTNET) publish src/OnnxSteer.Cli/OnnxSteer.Cli.csproj -c $(CONFIG) -r linux-x64 -p:PublishAot=true -o $(TOOL_DIR) --nologo -v:q
	@# ONNX Runtime's packages add their Windows DLLs to any x64 output, and the libraries' .pdb/.xml are not used by a native executable.
	rm -f $(TOOL_DIR)/*.dll $(TOOL_DIR)/*.pdb $(TOOL_DIR)/*.xml
	ln -sfn OnnxSteer.Cli $(TOOL_DIR)/onnxsteer

clean:
	$(DOTNET) clean OnnxSteer.sln -v:q
	rm -rf artifacts
