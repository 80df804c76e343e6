# make demo   build the local Redis image if needed, then run keyjob demo on a throwaway Redis
# make test   build the local Redis image when tests use it, then run every test
# make test-matrix  build the server matrix's images (Redis 7.0 and 8.0,
#             Valkey 8.1 and 9.x, scripts/server-image.sh), then run the
#             conformance suite (TestMatrix_*, TestManaged_*) on each
# make build  bin/keyjob
# make image  localhost/keyjob-redis:local, a Redis image built without a registry
#             (for the tests and the demo; the name predates keyjob's own image)
# make keyjob-image  localhost/keyjob:local, keyjob itself on FROM scratch
#             (Dockerfile; a static binary built here, no registry needed;
#             KEYJOB_IMAGE=name:tag to tag it otherwise)
#
# Tests start Redis in Docker (internal/redistest). They use
# $KEYJOB_REDIS_IMAGE, by default the image `make image` builds; set it to
# another image (e.g. redis:7.4) to skip the build and test against that.

GO ?= go
LOCAL_REDIS_IMAGE := localhost/keyjob-redis:local
KEYJOB_REDIS_IMAGE ?= $(LOCAL_REDIS_IMAGE)
export KEYJOB_REDIS_IMAGE

KEYJOB_IMAGE ?= localhost/keyjob:local

.PHONY: demo test test-matrix build image keyjob-image

demo: $(if $(filter $(LOCAL_REDIS_IMAGE),$(KEYJOB_REDIS_IMAGE)),image)
	$(GO) run ./cmd/keyjob demo

# The fields tests need servers with hash-field expiry (Redis 7.4+, Valkey
# 9+): FIELD_SERVERS are built too (an existing image is not rebuilt) and
# named to the tests in $$KEYJOB_FIELD_IMAGES.
FIELD_SERVERS ?= redis-8.0 valkey-9

test: $(if $(filter $(LOCAL_REDIS_IMAGE),$(KEYJOB_REDIS_IMAGE)),image)
	bash scripts/test-deps.sh
	$(GO) vet ./...
	fields="$$(bash scripts/server-image.sh $(FIELD_SERVERS))" && \
	KEYJOB_FIELD_IMAGES="$$(echo $$fields)" $(GO) test -count=1 -timeout 40m ./...

# The servers of the matrix (scripts/server-image.sh names) and the tests
# that run on each. A server that cannot be built or started fails the run.
# Redis 6.0 is built too, for TestMatrix_Redis6 (refused: keyjob needs 7.0).
MATRIX_SERVERS ?= redis-7.0 redis-8.0 valkey-8.1 valkey-9
MATRIX_TESTS ?= ^Test(Matrix|Managed)_

test-matrix:
	$(GO) vet ./...
	images="$$(bash scripts/server-image.sh $(MATRIX_SERVERS))" && \
	test -n "$$images" && \
	old="$$(bash scripts/server-image.sh redis-6.0)" && \
	KEYJOB_MATRIX="$$(echo $$images)" KEYJOB_MATRIX_OLD="$$old" $(GO) test -count=1 -timeout 40m -run '$(MATRIX_TESTS)' ./...

build:
	$(GO) build -o bin/keyjob ./cmd/keyjob

image:
	bash scripts/redis-image.sh

keyjob-image:
	GO=$(GO) bash scripts/keyjob-image.sh $(KEYJOB_IMAGE)

# make bench  the benchmark (bench/main.go says what it measures): installs its tools
#             (bench/deps.sh), builds bin/keyjob, then times it against the
#             floors on throwaway local redis-servers (1M tickets, 3 runs,
#             about 6 minutes), and measures keyjob's peak RSS on clusters
#             of 8, 40 and 100 primaries (cluster-rss, about 3 minutes more).
#             BENCH_FLAGS="-keys 10000000" adds the RSS check at 10M
#             tickets; "-only apply,apply-unguarded -runs 5"; "-only
#             cluster-rss" the cluster memory case alone.
BENCH_FLAGS ?=

.PHONY: bench

bench: build
	bash bench/deps.sh
	$(GO) run ./bench -keyjob bin/keyjob $(BENCH_FLAGS)
