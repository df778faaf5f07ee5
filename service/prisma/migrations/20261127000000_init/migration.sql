-- CreateTable
CREATE TABLE "links" (
    "id" BIGSERIAL NOT NULL,
    "slug" VARCHAR(64) NOT NULL,
    "url" VARCHAR(2048) NOT NULL,
    "clicks" BIGINT NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3),

    CONSTRAINT "links_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "links_slug_key" ON "links"("slug");

-- CreateIndex
CREATE INDEX "links_expires_at_idx" ON "links"("expires_at");
