-- CreateTable
CREATE TABLE "click_batches" (
    "id" UUID NOT NULL,
    "applied_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "click_batches_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "click_batches_applied_at_idx" ON "click_batches"("applied_at");
