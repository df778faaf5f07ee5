# BoltLink deploy. `make help` lists the targets.
# Every sizing number comes from common/sizing.ts: targets ask it (npm run sizing,
# infra/build-args.ts) instead of re-typing a value.

ENV ?= prod
# prod is the release `kubectl apply -f charts-out` applies; other environments
# synthesize to their own folder so they are never mixed into it by accident.
OUT := $(if $(filter prod,$(ENV)),charts-out,charts-out.$(ENV))
CDK8S := npx --no-install cdk8s
DOCKER ?= docker

.PHONY: help install build test lint typecheck check reliability cluster-test preflight validate audit synth sizing image image-test bench plan loadtest rollout migrate clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: ## npm ci
	npm ci

build: ## compile service and sizing to dist/ (generates the Prisma client first)
	npm run build

test: ## tests (need PostgreSQL, Redis and promtool: see README)
	npm test

lint: ## ESLint + Prettier
	npm run lint

typecheck: ## tsc --noEmit over everything, tests included
	npm run typecheck

check: lint typecheck test ## lint + typecheck + tests

reliability: build ## fault suite under load (Redis killed, PostgreSQL stopped or hanging, worker crash/memory restart, reload, SIGTERM, worker-cache coherence); one summary line each
	@summary=$$(mktemp); \
	RELIABILITY_SUMMARY=$$summary npx --no-install jest -c jest.reliability.config.js; status=$$?; \
	echo; echo "fault summary:"; sed 's/^/  /' $$summary; rm -f $$summary; exit $$status

cluster-test: build ## upstream Kubernetes built from source, the used-by commands run verbatim against it, torn down (see docs/cluster-test.md)
	bash infra/cluster/run.sh

preflight: ## the guide's production checklist for ENV, PASS/FAIL/SKIP per item (URL=… checks a live /health, ENV_FILE=… the Secrets' values)
	@npx --no-install tsx infra/preflight.ts --env $(ENV) $(if $(URL),--url $(URL)) $(if $(ENV_FILE),--env-file $(ENV_FILE))

validate: ## charts-out (DIR=…) checked offline, no API server: every object against the Kubernetes API schemas, then the manifest rules
	@npx --no-install tsx infra/validate.ts --dir $(or $(DIR),$(OUT)) --env $(ENV)

audit: ## npm audit of the production dependencies; fails on high or critical findings
	npm audit --omit=dev --audit-level=high

synth: ## synthesize manifests for ENV (default prod) into charts-out/ (NAMESPACE=… for a namespace of the release's own); atomic: a failure leaves it untouched
	@tmp=$$(mktemp -d) && \
	if BOLTLINK_ENV=$(ENV) BOLTLINK_NAMESPACE=$(NAMESPACE) $(CDK8S) synth --no-check-upgrade --output $$tmp/out > $$tmp/log 2>&1; then \
	  rm -rf $(OUT) && mv $$tmp/out $(OUT) && echo "synthesized $(ENV) into $(OUT)/" && ls $(OUT) && \
	  { grep '^note: ' $$tmp/log || true; } && rm -rf $$tmp; \
	else \
	  { grep '^synth: ' $$tmp/log || cat $$tmp/log; } >&2; rm -rf $$tmp; echo "synth failed: $(OUT)/ left as it was" >&2; exit 1; \
	fi

sizing: ## print the derived sizing table for ENV
	@npm run -s sizing -- --env $(ENV)

image: ## build the image for ENV with PM2_INSTANCES baked from the sizing (TAG=… to override); writes .env for compose once it is built
	@$(DOCKER) info >/dev/null 2>&1 || { echo "make image: no Docker engine answers ($(DOCKER) info failed): start Docker, or run bash infra/image-test/engine.sh (what make image-test runs: it installs and starts one here)" >&2; exit 2; }
	$(DOCKER) build --network host $$(IMAGE="$(IMAGE)" TAG="$(TAG)" npx --no-install tsx infra/build-args.ts --env $(ENV)) -f Dockerfile .
	IMAGE="$(IMAGE)" TAG="$(TAG)" npx --no-install tsx infra/build-args.ts --env $(ENV) --compose-env > .env.tmp && mv .env.tmp .env

image-test: build ## build the real Dockerfile and test the container (starts a Docker engine if needed)
	bash infra/image-test/engine.sh
	npx --no-install jest -c jest.image.config.js

bench: build ## the cases side by side (one hot link, the long tail: LINKS=1000000 ZIPF=1.0): servers on core 0, load on core 1; req/s, p50/p99, CPU µs, tier shares, goals
	taskset -c 1 npx --no-install tsx loadtest/bench/bench.ts $(if $(LINKS),--links $(LINKS)) $(if $(ZIPF),--zipf $(ZIPF))

plan: ## capacity plan per environment from common/sizing.ts and the latest make bench result
	@npx --no-install tsx loadtest/plan.ts

rollout: ## roll the Deployment to TAG (make rollout TAG=v1.1), record why (kubectl rollout history names it) and wait
	@test -n "$(TAG)" || { echo "usage: make rollout TAG=v1.1" >&2; exit 2; }
	@ref=$$(IMAGE="$(IMAGE)" TAG="$(TAG)" npx --no-install tsx infra/build-args.ts --ref) && set -x && \
	kubectl set image deployment/boltlink-backend backend=$$ref && \
	kubectl annotate deployment/boltlink-backend --overwrite kubernetes.io/change-cause="image $$ref (make rollout TAG=$(TAG))" && \
	kubectl rollout status deployment/boltlink-backend

migrate: build ## apply pending migrations to DATABASE_URL
	npm run db:migrate

clean: ## remove build output
	rm -rf dist charts-out.*
