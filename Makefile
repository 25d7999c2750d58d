# OnnxSteer — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
DOTNET ?= dotnet
CONFIG ?= Release
ORT_VERSION := 1.30.0
ORT_DIR := runtimes/linux-x64
ORT_LIB := $(ORT_DIR)/libonnxruntime.so.1
CLI_DLL := src/OnnxSteer.Cli/bin/$(CONFIG)/net10.0/OnnxSteer.Cli.dll
ONNXSTEER := $(DOTNET) $(CLI_DLL)
export DOTNET_CLI_TELEMETRY_OPTOUT := 1
export DOTNET_NOLOGO := 1

.PHONY: setup restore runtime ggufjs openaijs build test demo bench bench-serve fuzz pack docs clean

setup: restore runtime ggufjs openaijs

restore:
	$(DOTNET) restore OnnxSteer.sln

# The CPU build of ONNX Runtime ships inside the npm package onnxruntime-node; its postinstall downloads
# CUDA files and cannot run offline, so take the library straight out of the tarball.
runtime: $(ORT_LIB)

$(ORT_LIB):
	@mkdir -p $(ORT_DIR) .cache/npm
	cd .cache/npm && npm pack --silent onnxruntime-node@$(ORT_VERSION) >/dev/null
	tar -xzf .cache/npm/onnxruntime-node-$(ORT_VERSION).tgz -C .cache/npm package/bin/napi-v6/linux/x64/libonnxruntime.so.1
	cp .cache/npm/package/bin/napi-v6/linux/x64/libonnxruntime.so.1 $(ORT_LIB).tmp && mv $(ORT_LIB).tmp $(ORT_LIB)
	rm -rf .cache/npm/package
	@echo "ONNX Runtime $(ORT_VERSION) (CPU) -> $(ORT_LIB)"

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

# The library (with XML docs) and the tool (with the CPU ONNX Runtime) as NuGet packages in artifacts/; install the tool
# with: dotnet tool install -g OnnxSteer.Cli --add-source artifacts   (tests/…/Packaging checks exactly that).
pack: build
	$(DOTNET) pack src/OnnxSteer/OnnxSteer.csproj -c $(CONFIG) --no-build -o artifacts --nologo
	$(DOTNET) pack src/OnnxSteer.Cli/OnnxSteer.Cli.csproj -c $(CONFIG) --no-build -o artifacts --nologo

clean:
	$(DOTNET) clean OnnxSteer.sln -v:q
	rm -rf artifacts
